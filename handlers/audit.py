"""``/aicore audit [<id>]`` (and ``/bria audit``): the latest audit entries, privately."""

from __future__ import annotations

from bot import blocks
from bot.commands import Command
from bot.deps import Deps
from bot.direct import Respond


async def show_audit(deps: Deps, cmd: Command, respond: Respond) -> None:
    target = cmd.ids[0] if cmd.ids else None
    entries = await deps.audit.latest(scope=cmd.resource_group, target=target)
    await respond(
        text=f"Audit trail of {target or cmd.resource_group}",
        blocks=blocks.audit_blocks(entries, scope=cmd.resource_group, target=target),
        response_type="ephemeral",
        replace_original=False,
    )
