"""A click as a job: what the listener records, and what the worker gets back from it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck

from bot import blocks
from bot.audit import Actor
from bot.deps import Deps
from bot.errors import InputError
from bot.jobs import PRIORITY_INTERACTIVE, NewJob
from bot.runner import JobContext
from handlers.common import record_then_ack, request_key

JOB_KIND = "click"


@dataclass(frozen=True)
class Click:
    action_id: str
    value: str
    user: str
    channel: str | None
    message_ts: str | None
    ephemeral: bool
    trigger_id: str | None
    job: JobContext
    surface: str = "message"  # "home": a button of the App Home tab

    @property
    def from_home(self) -> bool:
        return self.surface == "home"

    @property
    def respond(self) -> Any:
        return self.job.respond

    @property
    def actor(self) -> Actor:
        return Actor(user=self.user, channel=self.channel, cause=self.cause)

    @property
    def cause(self) -> str:
        """Names this click in outbox keys: its redraws are its own."""
        return f"job{self.job.job.id}"

    def run_ref(self) -> tuple[str, str, str]:
        try:
            return blocks.parse_run_ref(self.value)
        except (KeyError, IndexError, ValueError, TypeError):
            raise InputError(
                "This button is from an older version of the bot; use the slash command instead."
            ) from None


ClickWork = Callable[[Deps, Click], Coroutine[Any, Any, None]]


def click_payload(body: dict[str, Any]) -> dict[str, Any]:
    action = (body.get("actions") or [{}])[0]
    container = body.get("container") or {}
    return {
        "action_id": action.get("action_id"),
        "value": action.get("value") or "",
        "user_id": (body.get("user") or {}).get("id"),
        "channel_id": (body.get("channel") or {}).get("id") or container.get("channel_id") or None,
        "message_ts": container.get("message_ts"),
        "ephemeral": bool(container.get("is_ephemeral")),
        "trigger_id": body.get("trigger_id"),
        "response_url": body.get("response_url"),
        "surface": "home" if _view_type(body) == "home" else "message",
    }


def _view_type(body: dict[str, Any]) -> str | None:
    view = body.get("view")
    return view.get("type") if isinstance(view, dict) else None


def click_of(job: JobContext) -> Click:
    payload = job.payload
    return Click(
        action_id=str(payload["action_id"]),
        value=str(payload.get("value") or ""),
        user=str(payload["user_id"]),
        channel=payload.get("channel_id"),
        message_ts=payload.get("message_ts"),
        ephemeral=bool(payload.get("ephemeral")),
        trigger_id=payload.get("trigger_id"),
        job=job,
        surface=str(payload.get("surface") or "message"),
    )


async def record_click(
    deps: Deps,
    ack: AsyncAck,
    body: dict[str, Any],
    *,
    per_user: bool = False,
    modal_block: str | None = None,
) -> None:
    """Record the click (a double click finds the first one under way), then ack."""
    payload = click_payload(body)
    target = f"{payload['action_id']}:{payload['value']}"
    if per_user:
        target += f":{payload['user_id']}"
    job = NewJob(
        kind=JOB_KIND,
        payload=payload,
        dedupe_key=request_key(body),
        active_key=target[:255],
        priority=PRIORITY_INTERACTIVE,
    )
    await record_then_ack(deps, ack, job, modal_block=modal_block)
