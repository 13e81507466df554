"""``subscribe``, ``unsubscribe`` and ``subscriptions``: a channel that follows a resource group."""

from __future__ import annotations

from bot.audit import Result
from bot.commands import Command
from bot.deps import Deps
from handlers.commands.asked import Asked, label_of
from handlers.common import private


async def subscribe(deps: Deps, cmd: Command, asked: Asked) -> None:
    await deps.store.subscribe(
        provider=cmd.provider,
        scope=cmd.resource_group,
        channel=asked.channel,
        scenario=cmd.scenario,
        only=cmd.only,
        user_id=asked.user,
    )
    what = f"scenario `{cmd.scenario}`" if cmd.scenario else "every scenario"
    only = f", telling it only about {' and '.join(cmd.only)}" if cmd.only else ""
    detail = f"scenario {cmd.scenario or '*'}" + (
        f", only {','.join(cmd.only)}" if cmd.only else ""
    )
    await deps.audit.note(
        asked.actor, "subscribe", cmd.provider, cmd.resource_group, Result.DONE, detail=detail
    )
    await asked.respond(
        text=f":bell: <@{asked.user}> subscribed this channel to {label_of(deps, cmd)} "
        f"runs of {what} "
        f"in `{cmd.resource_group}`{only}, including runs started outside Slack.",
        response_type="in_channel",
        replace_original=False,
    )


async def unsubscribe(deps: Deps, cmd: Command, asked: Asked) -> None:
    removed = await deps.store.unsubscribe(
        provider=cmd.provider, scope=cmd.resource_group, channel=asked.channel
    )
    if removed:
        await deps.audit.note(
            asked.actor, "unsubscribe", cmd.provider, cmd.resource_group, Result.DONE
        )
        await asked.respond(
            text=f":no_bell: <@{asked.user}> unsubscribed this channel from "
            f"`{cmd.resource_group}`. Cards already posted stay current.",
            response_type="in_channel",
            replace_original=False,
        )
    else:
        await private(asked.respond, f"This channel has no subscription to `{cmd.resource_group}`.")


async def subscriptions(deps: Deps, cmd: Command, asked: Asked) -> None:
    rows = await deps.store.subscriptions(provider=cmd.provider, channel=asked.channel)
    if not rows:
        await private(
            asked.respond,
            "This channel has no subscriptions. "
            "`/aicore subscribe [scenario=<id>] [only=DEAD,PENDING]` adds one.",
        )
        return
    lines = [
        f"• `{row.scope}` · {f'scenario `{row.scenario}`' if row.scenario else 'every scenario'}"
        f"{f' · only {row.only}' if row.only else ''} · by <@{row.created_by}>"
        for row in rows
    ]
    await private(asked.respond, "*This channel's subscriptions*\n" + "\n".join(lines))
