"""Slack's current file upload flow, for the local Slack (:mod:`bot.sandbox.slack`).

1. ``files.getUploadURLExternal(filename, length)`` answers a ``file_id`` and an
   ``upload_url`` (here ``<base>/upload/<file_id>``);
2. the bytes are POSTed to that URL (no token: the URL is the credential);
3. ``files.completeUploadExternal(files=[{id, title}], channel_id, thread_ts,
   initial_comment)`` shares the files, as one message, in the channel or thread.

As in Slack, a file not yet uploaded cannot be completed, a file is completed once, and the
length announced in step 1 must be the length uploaded. The state is guarded by the local
Slack's lock: these methods are called with it held.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class FileError(Exception):
    """A Slack error string for the Web API answer."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class StoredFile:
    id: str
    filename: str
    length: int
    data: bytes | None = None  # None until step 2
    title: str | None = None
    channel: str | None = None  # set once shared (step 3)
    thread_ts: str | None = None

    def shown(self, base_url: str) -> dict[str, Any]:
        """The file as a message's ``files`` entry shows it."""
        return {
            "id": self.id,
            "name": self.filename,
            "title": self.title or self.filename,
            "mimetype": _mimetype(self.filename),
            "size": self.length,
            "url_private": f"{base_url}files/{self.id}",
        }


class FileStore:
    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}

    def get_upload_url(self, args: dict[str, Any], base_url: str) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        if not filename:
            raise FileError("invalid_arguments")
        try:
            length = int(args.get("length") or 0)
        except ValueError:
            raise FileError("invalid_arguments") from None
        if length < 1:
            raise FileError("invalid_arguments")
        file_id = f"F{len(self._files) + 1:010d}"
        self._files[file_id] = StoredFile(id=file_id, filename=filename, length=length)
        return {"file_id": file_id, "upload_url": f"{base_url}upload/{file_id}"}

    def receive(self, file_id: str, data: bytes) -> bool:
        """Step 2; False for an unknown or already shared file."""
        stored = self._files.get(file_id)
        if stored is None or stored.channel is not None:
            return False
        stored.data = data
        return True

    def complete(self, args: dict[str, Any]) -> list[StoredFile]:
        """Step 3's checks; the caller posts the message that shares them."""
        raw = args.get("files")
        try:
            wanted = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            raise FileError("invalid_arguments") from None
        if not isinstance(wanted, list) or not wanted:
            raise FileError("invalid_arguments")
        found = []
        for item in wanted:
            if not isinstance(item, dict):
                raise FileError("invalid_arguments")
            stored = self._files.get(str(item.get("id")))
            if stored is None or stored.channel is not None:
                raise FileError("file_not_found")
            if stored.data is None or len(stored.data) != stored.length:
                raise FileError("file_upload_not_completed")
            stored.title = str(item.get("title") or stored.filename)
            found.append(stored)
        return found

    def share(self, files: list[StoredFile], channel: str, thread_ts: str | None) -> None:
        for stored in files:
            stored.channel, stored.thread_ts = channel, thread_ts

    def get(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def shared(self) -> list[StoredFile]:
        return [f for f in self._files.values() if f.channel is not None]


def _mimetype(filename: str) -> str:
    return "image/png" if filename.lower().endswith(".png") else "application/octet-stream"
