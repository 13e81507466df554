"""What both slash commands do with a parsed command in the ack path: help, the access policy,
then record the work and acknowledge."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.audit import Actor, Result
from bot.commands import Command
from bot.deps import Deps
from handlers.access import admit_command, protected_bulk_text
from handlers.commands.runs import ack_message, busy_text, command_job
from handlers.common import record_then_ack, request_key

INCOMPLETE = (
    ":warning: This request is incomplete (it names no user or channel), so nothing was done."
)


async def accept(
    deps: Deps, ack: AsyncAck, cmd: Command, command: dict[str, Any], body: dict[str, Any]
) -> None:
    if not (isinstance(command.get("user_id"), str) and isinstance(command.get("channel_id"), str)):
        await ack(response_type="ephemeral", text=INCOMPLETE)  # Slack always sends both
        return
    decision = await admit_command(
        deps,
        cmd,
        user=str(command["user_id"]),
        channel=command.get("channel_id"),
        key=request_key(body),
    )
    if not decision.allowed:
        await ack(response_type="ephemeral", text=decision.refusal or "Not allowed.")
        return
    if decision.protected and len(cmd.ids) > 1:
        await deps.audit.note(
            Actor(user=command["user_id"], channel=command["channel_id"], cause=request_key(body)),
            cmd.name,
            cmd.provider,
            cmd.resource_group,
            Result.REFUSED_POLICY,
            detail=f"protected: {len(cmd.ids)} runs at once",
        )
        await ack(response_type="ephemeral", text=protected_bulk_text(cmd.name, cmd.resource_group))
        return
    await record_then_ack(
        deps,
        ack,
        command_job(cmd, command, body),
        ack_text=ack_message(cmd),
        busy_text=busy_text(cmd),
    )
