"""Sending one outbox message to Slack, and what Slack's answer means for it.

Delivery composes nothing: the message in the row is sent as it is, addressed here (the
follow's card for a reply, ``reply_broadcast`` for alerts) and stamped with metadata naming
its row. That stamp is how a send whose fate is unknown (the process died, the answer was
lost) is found again in the channel's history before anything is sent a second time.

The Slack client used here has no automatic retries on purpose: a retried ``chat.postMessage``
after a dropped connection may post twice, and a 429 waited out inside the call would hold
the channel's lease hostage. Delivery decides when to try again.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.outbox import ChartReply, Direct, Message, PostCard, Reply, UpdateCard
from bot.store.tables import Follow, OutboxMessage

METADATA_EVENT = "chatops_outbox"
# Slack errors that trying again will not cure: the message is dropped, the reason kept.
PERMANENT = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "msg_blocks_too_long",
        "no_text",
        "restricted_action",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "thread_not_found",
        # conversations.open for a DM: the user cannot be written to
        "user_not_found",
        "user_disabled",
        "cannot_dm_bot",
    }
)


class Fate(StrEnum):
    SENT = "sent"  # Slack has it (ts known for posts)
    DROPPED = "dropped"  # Slack refused for good; the reason is in ``error``
    LATER = "later"  # not sent: try again after ``retry_after``
    UNKNOWN = "unknown"  # may or may not have been sent: look in the history before resending


@dataclass(frozen=True)
class Result:
    fate: Fate
    ts: str | None = None
    error: str | None = None
    retry_after: float | None = None


def metadata(row_id: int) -> dict[str, Any]:
    return {"event_type": METADATA_EVENT, "event_payload": {"outbox_id": row_id}}


def thread_of(follow: Follow | None) -> str | None:
    return follow.card_ts if follow is not None and follow.card_ts else None


async def send(
    slack: AsyncWebClient, row: OutboxMessage, message: Message, follow: Follow | None
) -> Result:
    """One attempt; every Slack or network failure becomes a :class:`Result`."""
    try:
        if isinstance(message, ChartReply):
            return await _upload(slack, row, message, follow)
        if isinstance(message, UpdateCard):
            if follow is None or not follow.card_ts:
                return Result(Fate.DROPPED, error="the card was never posted")
            await slack.chat_update(
                channel=row.channel, ts=follow.card_ts, text=message.text, blocks=message.blocks
            )
            return Result(Fate.SENT, ts=follow.card_ts)
        arguments: dict[str, Any] = {"text": message.text, "blocks": message.blocks}
        thread_ts = thread_of(follow) if isinstance(message, Reply) else None
        if thread_ts:
            arguments["thread_ts"] = thread_ts
            if isinstance(message, Reply) and message.broadcast:
                arguments["reply_broadcast"] = True
        channel = await address(slack, row, message)
        response = await slack.chat_postMessage(
            channel=channel, metadata=metadata(row.id), **arguments
        )
        return Result(Fate.SENT, ts=str(response["ts"]))
    except SlackApiError as exc:
        return _refused(exc)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Result(Fate.UNKNOWN, error=type(exc).__name__)


async def _upload(
    slack: AsyncWebClient, row: OutboxMessage, chart: ChartReply, follow: Follow | None
) -> Result:
    """Slack's upload flow, through slack_sdk's ``files_upload_v2``: an upload URL
    (``files.getUploadURLExternal``), the bytes, then ``files.completeUploadExternal``, which
    shares the file in the thread with ``text`` as its comment. Slack shares it a moment
    later, so the answer carries no message ts."""
    thread_ts = thread_of(follow)
    if thread_ts is None:
        return Result(Fate.DROPPED, error="the card was never posted")
    try:
        await slack.files_upload_v2(
            channel=row.channel,
            thread_ts=thread_ts,
            content=base64.b64decode(chart.png_base64),
            filename=chart.filename,
            title=chart.title,
            initial_comment=chart.text,
        )
    except SlackApiError as exc:
        if exc.response.get("error") == "missing_scope":
            # An install from before charts: `files:write` comes with reinstalling the app.
            return Result(Fate.DROPPED, error="missing_scope (files:write)")
        raise
    except SlackRequestError as exc:
        # The bytes did not reach the upload URL: nothing was shared.
        return Result(Fate.LATER, error=f"upload failed: {exc}", retry_after=30.0)
    return Result(Fate.SENT)


async def address(slack: AsyncWebClient, row: OutboxMessage, message: Message) -> str:
    """Where the row goes: its channel, or for a DM the user's DM channel (opened for it)."""
    if not isinstance(message, Direct):
        return row.channel
    opened = await slack.conversations_open(users=row.channel)
    return str(opened["channel"]["id"])


def _refused(exc: SlackApiError) -> Result:
    status = exc.response.status_code
    error = str(exc.response.get("error") or f"http_{status}")
    if status == 429:
        # Slack refused before doing anything: nothing was posted; wait as told.
        retry_after = float(exc.response.headers.get("Retry-After", 1) or 1)
        return Result(Fate.LATER, error="ratelimited", retry_after=retry_after)
    if error in PERMANENT:
        return Result(Fate.DROPPED, error=error)
    # A 5xx may come after Slack stored the message; any other error did not post.
    return Result(Fate.UNKNOWN if status >= 500 else Fate.LATER, error=error)


async def already_posted(
    slack: AsyncWebClient, row: OutboxMessage, thread_ts: str | None, message: Message
) -> str | Result | None:
    """The ts of the message an earlier attempt posted, found by its metadata; None if none.

    The newest 200 messages of the thread (or channel) are searched: a retry follows its
    attempt closely. A history Slack will not show is returned as a :class:`Result`.
    """
    try:
        channel = await address(slack, row, message)
        if thread_ts:
            response = await slack.conversations_replies(
                channel=channel, ts=thread_ts, include_all_metadata=True, limit=200
            )
        else:
            response = await slack.conversations_history(
                channel=channel, include_all_metadata=True, limit=200
            )
    except SlackApiError as exc:
        return _refused(exc)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Result(Fate.LATER, error=type(exc).__name__)
    for found in response.get("messages") or []:
        if isinstance(message, ChartReply):
            # Uploads carry no metadata: the file's name is unique in the thread.
            names = {f.get("name") for f in found.get("files") or [] if isinstance(f, dict)}
            if message.filename in names:
                return str(found["ts"])
            continue
        stamp = found.get("metadata") or {}
        payload = stamp.get("event_payload") or {}
        if stamp.get("event_type") == METADATA_EVENT and payload.get("outbox_id") == row.id:
            return str(found["ts"])
    return None


def is_post(message: Message) -> bool:
    return not isinstance(message, UpdateCard)


def failure_notice(message: Message) -> tuple[str, str] | None:
    """(response_url, text) to tell the person who asked that their card could not be posted."""
    if not isinstance(message, PostCard) or not message.response_url:
        return None
    return message.response_url, (
        ":warning: I can't post in this channel yet: invite me with `/invite @<bot name>`, "
        "then use `watch` to get the card here."
    )
