"""What tests and the sandbox page read of the local Slack's channels, and what they seed.

Reads (:meth:`~ChannelReads.messages`, ``thread``, ``find``, ``visible``, ``file_bytes``)
return copies; seeding (a human's message, an ephemeral reply of the app) is a change like
any other, so listeners hear of it. The Web API methods on messages, and ``message_json``
(a message as an interaction payload carries it), are in :mod:`bot.sandbox.slack_messages`.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from bot.sandbox.slack_records import Message
from bot.sandbox.slack_state import SlackState


def _collect_texts(node: Any, out: list[str]) -> None:
    # Block Kit nests text objects anywhere ({"type": "mrkdwn", "text": ...}, fields, ...).
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                out.append(value)
            else:
                _collect_texts(value, out)
    elif isinstance(node, list):
        for item in node:
            _collect_texts(item, out)


def _copy_message(message: Message) -> Message:
    return dataclasses.replace(
        message,
        blocks=copy.deepcopy(message.blocks),
        metadata=copy.deepcopy(message.metadata),
        attachments=copy.deepcopy(message.attachments),
        files=copy.deepcopy(message.files),
    )


class ChannelReads(SlackState):
    """The test-facing view of the channels (for :class:`~bot.sandbox.slack.FakeSlack`)."""

    def messages(self, channel: str, *, include_replies: bool = True) -> list[Message]:
        """Current messages of ``channel`` in ts order, ephemeral ones included.

        With ``include_replies=False`` only what shows in the channel itself is returned:
        top-level messages plus replies posted with ``reply_broadcast``.
        """
        with self._lock:
            stored = self._sorted(channel)
            if not include_replies:
                stored = [m for m in stored if m.thread_ts is None or m.reply_broadcast]
            return [_copy_message(m) for m in stored]

    def file_bytes(self, file_id: str) -> bytes | None:
        """What was uploaded as ``file_id`` (None if nothing was)."""
        with self._lock:
            stored = self._files.get(file_id)
            return stored.data if stored is not None else None

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Replies (not the parent) whose ``thread_ts`` is ``thread_ts``, in ts order."""
        with self._lock:
            return [
                _copy_message(m)
                for m in self._sorted(channel)
                if m.thread_ts == thread_ts and m.ts != thread_ts
            ]

    def find(
        self, *, channel: str | None = None, text_contains: str | None = None
    ) -> list[Message]:
        """Messages whose text, or any text inside their blocks, contains ``text_contains``."""
        with self._lock:
            channels = [channel] if channel is not None else sorted(self._messages)
            found: list[Message] = []
            for ch in channels:
                for message in self._sorted(ch):
                    if text_contains is None or text_contains in self._searchable(message):
                        found.append(_copy_message(message))
            return found

    def post_user_message(
        self, channel: str, text: str, *, user: str = "U123", thread_ts: str | None = None
    ) -> Message:
        """Seed a message written by a human, e.g. a thread the bot should reply into."""
        with self._lock:
            message = Message(
                channel=channel,
                ts=self._next_ts(),
                text=text,
                blocks=[],
                thread_ts=thread_ts,
                reply_broadcast=False,
                metadata=None,
                user=user,
                ephemeral=False,
                updates=0,
            )
            self._messages.setdefault(channel, {})[message.ts] = message
            copied = _copy_message(message)
        self._changed()
        return copied

    def visible(self, channel: str, user: str) -> list[dict[str, Any]]:
        """What ``user`` sees of ``channel``: every message and reply (ephemeral ones only if
        they are for ``user``), in ts order, as the sandbox page draws them."""
        with self._lock:
            shown = [m for m in self._sorted(channel) if not m.ephemeral or m.user == user]
            return [
                {
                    "ts": m.ts,
                    "text": m.text,
                    "blocks": copy.deepcopy(m.blocks),
                    "thread_ts": m.thread_ts,
                    "broadcast": m.reply_broadcast,
                    "ephemeral": m.ephemeral,
                    "author": None if m.ephemeral or m.user is None else m.user,
                    "edited": m.updates > 0,
                    "files": [
                        {"id": f["id"], "name": f["name"], "title": f["title"]} for f in m.files
                    ],
                }
                for m in shown
            ]

    def show_ephemeral(self, *, channel: str, user: str, message: dict[str, Any]) -> None:
        """An ephemeral message from the app (e.g. a command's acknowledgement text)."""
        blocks = message.get("blocks")
        with self._lock:
            stored = Message(
                channel=channel,
                ts=self._next_ts(),
                text=str(message.get("text") or ""),
                blocks=list(blocks) if isinstance(blocks, list) else [],
                thread_ts=None,
                reply_broadcast=False,
                metadata=None,
                user=user,
                ephemeral=True,
                updates=0,
            )
            self._messages.setdefault(channel, {})[stored.ts] = stored
        self._changed()

    @staticmethod
    def _searchable(message: Message) -> str:
        texts = [message.text]
        _collect_texts(message.blocks, texts)
        _collect_texts(message.attachments, texts)
        return "\n".join(texts)
