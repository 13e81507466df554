"""Outbox messages: what may be queued for Slack, typed, and the keys that keep each one single.

Whoever announces something (the poller, a job) composes the whole message and writes it in
the same transaction as the state it announces; delivery only addresses and sends it. The
kinds::

    card_post  PostCard     the first post of a follow's card; its ts becomes the card
    card       UpdateCard   chat.update of that card; of several pending, only the newest goes
    thread     Reply        a reply in the card's thread (broadcast for alerts); top-level
                            when the follow has no card (alerts-only subscriptions)
    post       Post         a top-level message (digests, catch-ups)
    dm         Direct       a direct message to a user (a run they started died); the row's
                            channel is the user's ID
    chart      ChartReply   a PNG uploaded into the card's thread (files.getUploadURLExternal,
                            then files.completeUploadExternal); ``text`` is its comment

Each row has a ``dedupe_key`` (unique): two writers announcing the same thing build the same
key, so the second insert is skipped. The keys are made here and nowhere else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from bot.store.dbclock import db_now
from bot.store.tables import OutboxMessage


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    blocks: list[dict[str, Any]] | None = None


class PostCard(_Message):
    kind: Literal["card_post"] = "card_post"
    # Where to tell the person who asked when Slack refuses the card (bot not in the channel).
    response_url: str | None = None


class UpdateCard(_Message):
    kind: Literal["card"] = "card"


class Reply(_Message):
    kind: Literal["thread"] = "thread"
    broadcast: bool = False


class Post(_Message):
    kind: Literal["post"] = "post"


class Direct(_Message):
    """A direct message to the user the row's ``channel`` names (``U…``); delivery opens the
    DM (``conversations.open``) and posts there."""

    kind: Literal["dm"] = "dm"


class ChartReply(_Message):
    """An image in the card's thread. The PNG is drawn when announced (delivery composes
    nothing) and kept here base64-encoded; ``filename`` is unique in the thread, which is how
    an upload whose fate is unknown is found again."""

    kind: Literal["chart"] = "chart"
    png_base64: str
    filename: str
    title: str


Message = Annotated[
    PostCard | UpdateCard | Reply | Post | Direct | ChartReply, Field(discriminator="kind")
]
_MESSAGE: TypeAdapter[Message] = TypeAdapter(Message)
# Paced: one per second per channel.
POSTS = frozenset({"card_post", "thread", "post", "dm", "chart"})


def read(row: OutboxMessage) -> Message:
    """The row's message; raises pydantic's ValidationError when it cannot be read."""
    return _MESSAGE.validate_python({**row.payload, "kind": row.kind})


def row(
    *,
    channel: str,
    follow_id: int | None,
    message: Message,
    key: str,
    now: datetime,
    delay_seconds: float = 0.0,
) -> dict[str, Any]:
    """The values of an outbox INSERT (``due_at`` on the database clock)."""
    payload = message.model_dump(exclude={"kind"}, exclude_none=True)
    return {
        "dedupe_key": key[:255],
        "channel": channel,
        "follow_id": follow_id,
        "kind": message.kind,
        "payload": payload,
        "created_at": now,
        "due_at": db_now() + delay_seconds,
        "attempts": 0,
    }


class Keys:
    """Dedupe keys. A key names *what* is announced, never *when* the writer ran."""

    @staticmethod
    def card_post(follow_id: int, cause: str) -> str:
        return f"card_post:{follow_id}:{cause}"

    @staticmethod
    def card(follow_id: int, cause: str) -> str:
        return f"card:{follow_id}:{cause}"

    @staticmethod
    def transition(follow_id: int, version: int) -> str:
        """A follow's status changed from the state stored at ``version``."""
        return f"thread:{follow_id}:v{version}"

    @staticmethod
    def alert(kind: str, follow_id: int, since: datetime) -> str:
        return f"alert:{kind}:{follow_id}:{since.isoformat()}"

    @staticmethod
    def silent(follow_id: int, since: datetime) -> str:
        """A run silent since ``since`` (its newest log line): once per silence."""
        return f"alert:silent:{follow_id}:{since.isoformat()}"

    @staticmethod
    def summary(follow_id: int, status: str) -> str:
        return f"summary:{follow_id}:{status}"

    @staticmethod
    def chart(follow_id: int, status: str) -> str:
        return f"chart:{follow_id}:{status}"

    @staticmethod
    def deleted(follow_id: int) -> str:
        return f"deleted:{follow_id}"

    @staticmethod
    def pending_group(channel: str, alert_keys: Sequence[str]) -> str:
        """Several PENDING alerts told as one: named by the alerts it stands for."""
        digest = hashlib.sha256("\n".join(sorted(alert_keys)).encode()).hexdigest()[:32]
        return f"pending_group:{channel}:{digest}"

    @staticmethod
    def digest(channel: str, provider: str, scope: str, cycle: str) -> str:
        return f"digest:{channel}:{provider}:{scope}:{cycle}"

    @staticmethod
    def direct(provider: str, scope: str, run_id: str, since: datetime) -> str:
        """The DM to whoever started a run that died: once per death, however many channels
        follow the run."""
        return f"dm:dead:{provider}:{scope}:{run_id}:{since.isoformat()}"

    @staticmethod
    def rerun(follow_id: int, job_id: int) -> str:
        """The old card's thread names the run a Re-run (job ``job_id``) started."""
        return f"rerun:{follow_id}:{job_id}"

    @staticmethod
    def notice(job_id: int, what: str) -> str:
        return f"notice:{job_id}:{what}"
