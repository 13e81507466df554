"""The Web API methods on messages, for the local Slack (:mod:`bot.sandbox.slack`).

``chat.*`` (post, update, ephemeral, delete, permalink), ``conversations.history``,
``conversations.replies`` and ``conversations.join``, and ``files.*`` (a shared file shows as
a message; the files themselves are in :mod:`bot.sandbox.slack_files`). Also the bot's
channel membership and a message as the Web API shows it.
"""

from __future__ import annotations

import copy
from typing import Any

from bot.sandbox.slack_files import FileError
from bot.sandbox.slack_records import Message, SlackError, truthy, ts_value
from bot.sandbox.slack_state import SlackState

# Block Kit hard limits Slack enforces on the server side (reference §7).
MAX_MESSAGE_BLOCKS = 50
MAX_TEXT_CHARS = 40_000


class MessageMethods(SlackState):
    """chat.*, conversations.history / replies / join and files.* on the shared messages."""

    _not_in_channel: set[str]  # channels the bot must conversations.join first

    # ------------------------------------------------------------------ test-facing API

    def message_json(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message as an interaction payload carries it (``_ephemeral`` marks those)."""
        with self._lock:
            message = self._get(channel, ts)
            if message is None:
                return None
            out = self._message_json(message, with_metadata=False)
            if message.ephemeral:
                out.update(user=self.bot_user_id, bot_id=self.bot_id, _ephemeral=True)
            return out

    def not_in_channel(self, channel: str) -> None:
        """The bot is not a member of ``channel`` until it calls ``conversations.join``.

        Until then chat.postMessage, chat.postEphemeral, conversations.history and
        conversations.replies in it answer ``not_in_channel``, as Slack does.
        """
        with self._lock:
            self._not_in_channel.add(channel)

    # ------------------------------------------------------------------ state helpers
    # All helpers below run with self._lock held.

    def _require_member(self, channel: str) -> None:
        if channel in self._not_in_channel:
            raise SlackError("not_in_channel")

    def _message_json(self, message: Message, *, with_metadata: bool) -> dict[str, Any]:
        """A message as conversations.history / replies / postMessage show it."""
        out: dict[str, Any] = {"type": "message", "ts": message.ts, "text": message.text}
        if message.user is not None:
            out["user"] = message.user
        else:
            out.update(user=self.bot_user_id, bot_id=self.bot_id, app_id=self.app_id)
        out["team"] = self.team_id
        if message.blocks:
            out["blocks"] = copy.deepcopy(message.blocks)
        if message.attachments:
            out["attachments"] = copy.deepcopy(message.attachments)
        if message.files:
            out["files"] = copy.deepcopy(message.files)
        replies = [
            m
            for m in self._messages.get(message.channel, {}).values()
            if m.thread_ts == message.ts and m.ts != message.ts and not m.ephemeral
        ]
        if message.thread_ts is not None:
            out["thread_ts"] = message.thread_ts
            parent = self._get(message.channel, message.thread_ts)
            if parent is not None:
                out["parent_user_id"] = parent.user or self.bot_user_id
            if message.reply_broadcast:
                out["subtype"] = "thread_broadcast"
        elif replies:
            out["thread_ts"] = message.ts
            out["reply_count"] = len(replies)
            out["latest_reply"] = max((m.ts for m in replies), key=ts_value)
        if message.updates:
            out["edited"] = {"user": self.bot_user_id, "ts": message.ts}
        if with_metadata and message.metadata is not None:
            out["metadata"] = copy.deepcopy(message.metadata)
        return out

    @staticmethod
    def _check_content(args: dict[str, Any], *, require_content: bool) -> None:
        blocks = args.get("blocks")
        if blocks is not None:
            if not isinstance(blocks, list) or not all(
                isinstance(b, dict) and "type" in b for b in blocks
            ):
                raise SlackError("invalid_blocks")
            if len(blocks) > MAX_MESSAGE_BLOCKS:
                raise SlackError("invalid_blocks")
        attachments = args.get("attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        text = args.get("text")
        if text is not None and len(str(text)) > MAX_TEXT_CHARS:
            raise SlackError("msg_too_long")
        metadata = args.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict) or "event_type" not in metadata
        ):
            raise SlackError("invalid_metadata_format")
        if require_content and not (text or blocks or attachments):
            raise SlackError("no_text")

    # ------------------------------------------------------------------ Web API methods

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        self._require_member(channel)
        self._check_content(args, require_content=True)
        thread_ts = args.get("thread_ts") or None
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=str(args.get("text") or ""),
            blocks=list(args.get("blocks") or []),
            thread_ts=str(thread_ts) if thread_ts is not None else None,
            # Slack ignores reply_broadcast outside a thread.
            reply_broadcast=thread_ts is not None and truthy(args.get("reply_broadcast")),
            metadata=args.get("metadata"),
            user=None,
            ephemeral=False,
            updates=0,
            attachments=list(args.get("attachments") or []),
        )
        self._messages.setdefault(channel, {})[message.ts] = message
        return {
            "channel": channel,
            "ts": message.ts,
            "message": self._message_json(message, with_metadata=True),
        }

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        ts = self._require(args, "ts", "message_not_found")
        message = self._get(channel, ts)
        if message is None:
            raise SlackError("message_not_found")
        if message.ephemeral or message.user is not None:
            # Ephemeral messages and messages by others can't be edited by this app.
            raise SlackError("cant_update_message")
        self._check_content(args, require_content=False)
        # Slack keeps what is omitted: only fields present in the call are replaced
        # (so blocks=[] clears the blocks but no "blocks" key leaves them alone).
        if "text" in args:
            message.text = str(args["text"] or "")
        if "blocks" in args:
            message.blocks = list(args["blocks"] or [])
        if "attachments" in args:
            message.attachments = list(args["attachments"] or [])
        if "metadata" in args:
            message.metadata = args["metadata"]
        message.updates += 1
        return {
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "message": self._message_json(message, with_metadata=True),
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        user = self._require(args, "user", "user_not_found")
        self._require_member(channel)
        self._check_content(args, require_content=True)
        thread_ts = args.get("thread_ts") or None
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=str(args.get("text") or ""),
            blocks=list(args.get("blocks") or []),
            thread_ts=str(thread_ts) if thread_ts is not None else None,
            reply_broadcast=False,
            metadata=None,
            user=user,
            ephemeral=True,
            updates=0,
            attachments=list(args.get("attachments") or []),
        )
        self._messages.setdefault(channel, {})[message.ts] = message
        return {"message_ts": message.ts}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        ts = self._require(args, "ts", "message_not_found")
        message = self._get(channel, ts)
        if message is None or message.ephemeral:
            # Ephemeral messages don't exist server side; only response_url can remove them.
            raise SlackError("message_not_found")
        if message.user is not None:
            raise SlackError("cant_delete_message")
        del self._messages[channel][ts]
        return {"channel": channel, "ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        ts = self._require(args, "message_ts", "message_not_found")
        message = self._get(channel, ts)
        if message is None or message.ephemeral:
            raise SlackError("message_not_found")
        permalink = f"https://fake-workspace.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        if message.thread_ts is not None:
            permalink += f"?thread_ts={message.thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": permalink}

    def _history_window(
        self, args: dict[str, Any], messages: list[Message]
    ) -> tuple[list[Message], bool, str]:
        """Apply oldest/latest/inclusive/limit/cursor the way conversations.* do."""
        oldest = ts_value(args.get("oldest") or "0")
        latest_arg = args.get("latest")
        latest = ts_value(latest_arg) if latest_arg else None
        inclusive = truthy(args.get("inclusive", False))

        def in_window(m: Message) -> bool:
            ts = ts_value(m.ts)
            above = ts >= oldest if inclusive else ts > oldest
            below = latest is None or (ts <= latest if inclusive else ts < latest)
            return above and below

        window = [m for m in messages if in_window(m)]
        try:
            limit = max(1, min(int(args.get("limit") or 100), 999))
            offset = int(str(args.get("cursor") or "offset:0").removeprefix("offset:"))
        except ValueError as exc:
            raise SlackError("invalid_cursor") from exc
        page = window[offset : offset + limit]
        has_more = offset + limit < len(window)
        return page, has_more, f"offset:{offset + limit}" if has_more else ""

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        self._require_member(channel)
        visible = [
            m
            for m in self._sorted(channel)
            if not m.ephemeral and (m.thread_ts is None or m.reply_broadcast)
        ]
        visible.reverse()  # conversations.history is newest first
        page, has_more, cursor = self._history_window(args, visible)
        with_metadata = truthy(args.get("include_all_metadata", False))
        return {
            "messages": [self._message_json(m, with_metadata=with_metadata) for m in page],
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        ts = self._require(args, "ts", "thread_not_found")
        self._require_member(channel)
        root = self._get(channel, ts)
        if root is None or root.ephemeral:
            raise SlackError("thread_not_found")
        if root.thread_ts is not None and root.thread_ts != ts:
            # Asking with a reply's ts yields just that reply, as on Slack.
            thread = [root]
        else:
            thread = [root] + [
                m
                for m in self._sorted(channel)
                if m.thread_ts == ts and m.ts != ts and not m.ephemeral
            ]
        page, has_more, cursor = self._history_window(args, thread)
        with_metadata = truthy(args.get("include_all_metadata", False))
        return {
            "messages": [self._message_json(m, with_metadata=with_metadata) for m in page],
            "has_more": has_more,
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        already = channel not in self._not_in_channel
        self._not_in_channel.discard(channel)
        result: dict[str, Any] = {
            "channel": {"id": channel, "name": channel, "is_channel": True, "is_member": True}
        }
        if already:
            result["warning"] = "already_in_channel"
        return result

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._files.get_upload_url(args, self._base_url)
        except FileError as exc:
            raise SlackError(exc.error) from None

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel_id") or args.get("channels")
        try:
            files = self._files.complete(args)
        except FileError as exc:
            raise SlackError(exc.error) from None
        if not channel:
            # Slack keeps unshared files private to the uploader; nothing shows anywhere.
            return {"files": [{"id": f.id, "title": f.title} for f in files]}
        channel = str(channel)
        self._require_member(channel)
        thread_ts = args.get("thread_ts") or None
        if thread_ts is not None and self._get(channel, str(thread_ts)) is None:
            raise SlackError("thread_not_found")
        self._files.share(files, channel, str(thread_ts) if thread_ts else None)
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=str(args.get("initial_comment") or ""),
            blocks=[],
            thread_ts=str(thread_ts) if thread_ts else None,
            reply_broadcast=False,
            metadata=None,
            user=None,
            ephemeral=False,
            updates=0,
            files=[f.shown(self._base_url) for f in files],
        )
        self._messages.setdefault(channel, {})[message.ts] = message
        return {"files": [{"id": f.id, "title": f.title} for f in files]}
