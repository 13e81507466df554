"""Where listeners and jobs meet the access policy: one function to ask, one to refuse.

:func:`admit` is the single check: commands call it before recording their job, clicks and
modal submissions at the start of their work (a button seen in a channel grants nothing: the
clicker's rights are checked at the click). A refusal is written to the audit trail and costs no
call to AI Core or Bria.
"""

from __future__ import annotations

from bot.access.guard import Asking, Decision
from bot.audit import Actor, Result
from bot.commands import Command
from bot.deps import Deps

#: The policy's word for each command (``subscriptions`` only reads, as ``list`` does).
COMMAND_ACTIONS = {
    "start": "start",
    "stop": "stop",
    "delete": "delete",
    "status": "status",
    "list": "list",
    "logs": "logs",
    "watch": "watch",
    "subscribe": "subscribe",
    "unsubscribe": "subscribe",
    "subscriptions": "list",
    "audit": "audit",
}


def protected_bulk_text(action: str, resource_group: str) -> str:
    return (
        f":lock: `{resource_group}` is a protected resource group: {action} runs there one at "
        "a time, and the bot asks you to type the run's ID first. Nothing was done."
    )


async def admit(
    deps: Deps,
    *,
    user: str,
    action: str,
    provider: str,
    resource_group: str,
    channel: str | None,
    key: str,
    target: str | None = None,
    recorded_as: str | None = None,
) -> Decision:
    """May ``user`` do ``action`` in ``resource_group`` here? A refusal is audited (as
    ``recorded_as``, the command's own word, when it differs from the policy's)."""
    decision = await deps.guard.check(
        Asking(user=user, action=action, resource_group=resource_group, channel=channel)
    )
    if not decision.allowed:
        actor = Actor(user=user, channel=channel, cause=key)
        await deps.audit.note(
            actor,
            recorded_as or action,
            provider,
            resource_group,
            Result.REFUSED_POLICY,
            target=target,
        )
    return decision


async def admit_command(
    deps: Deps, cmd: Command, *, user: str, channel: str | None, key: str
) -> Decision:
    return await admit(
        deps,
        user=user,
        action=COMMAND_ACTIONS[cmd.name],
        provider=cmd.provider,
        resource_group=cmd.resource_group,
        channel=channel,
        key=key,
        target=cmd.ids[0] if len(cmd.ids) == 1 else None,
        recorded_as=cmd.name,
    )
