"""A configuration picked in the start form: record a ``form`` job that shows its parameters."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks.start import ACTION_PICK_TARGET
from bot.deps import Deps
from bot.jobs import PRIORITY_INTERACTIVE, NewJob
from handlers.common import record_then_ack, request_key
from handlers.start_form import JOB_KIND, pick_payload


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_pick(ack: AsyncAck, body: dict[str, Any]) -> None:
        payload = pick_payload(body)
        job = NewJob(
            kind=JOB_KIND,
            payload=payload,
            dedupe_key=request_key(body),
            priority=PRIORITY_INTERACTIVE,
        )
        await record_then_ack(deps, ack, job)

    app.action(ACTION_PICK_TARGET)(on_pick)
