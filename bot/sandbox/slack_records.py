"""What the local Slack (:mod:`bot.sandbox.slack`) records and answers with.

The recorded data types (:class:`SlackCall`, :class:`Message`), the two ways a call fails
(:class:`Failure`, injected by a test; :class:`SlackError`, raised by a Web API method) and
the argument readers every part uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

_TRUE_STRINGS = frozenset({"1", "true", "True", "TRUE", "yes"})


@dataclass
class SlackCall:
    """One request the fake received, whatever its outcome."""

    method: str  # e.g. "chat.postMessage"; "response_url" for response-URL posts
    args: dict[str, Any]  # parsed body; blocks/attachments/metadata/view decoded
    at: float  # time.monotonic() when it arrived
    status: int = 200  # HTTP status the fake answered with
    error: str | None = None  # Slack error string when the answer was ok:false / a failure


@dataclass
class Message:
    """The fake's current view of one message (a snapshot when returned to tests)."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    reply_broadcast: bool
    metadata: dict[str, Any] | None
    user: str | None  # the target user for ephemeral messages, the author for seeded ones
    ephemeral: bool
    updates: int  # how many chat.update calls hit it
    attachments: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)  # shared with the message


@dataclass
class Failure:
    status: int
    retry_after: int
    error: str | None
    channel: str | None = None  # only calls about this channel take it


class SlackError(Exception):
    """Raised inside handlers to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def truthy(value: Any) -> bool:
    # Form bodies carry booleans as "1"/"0" (slack_sdk converts them) or "true"/"false".
    if isinstance(value, str):
        return value in _TRUE_STRINGS
    return bool(value)


def ts_value(ts: Any) -> Decimal:
    try:
        return Decimal(str(ts))
    except InvalidOperation as exc:
        raise SlackError("invalid_ts_latest") from exc
