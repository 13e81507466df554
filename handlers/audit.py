"""``/aicore audit [<id>]`` (and ``/bria audit``): the latest audit entries, privately."""

from __future__ import annotations

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot import blocks
from bot.commands import Command
from bot.deps import Deps


async def show_audit(deps: Deps, cmd: Command, respond: AsyncRespond) -> None:
    target = cmd.ids[0] if cmd.ids else None
    entries = await deps.audit.latest(scope=cmd.resource_group, target=target)
    await respond(
        text=f"Audit trail of {target or cmd.resource_group}",
        blocks=blocks.audit_blocks(entries, scope=cmd.resource_group, target=target),
        response_type="ephemeral",
        replace_original=False,
    )
