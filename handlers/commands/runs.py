"""What the slash commands do after their acknowledgement, for every provider.

``/aicore`` and ``/bria`` parse their own text into a :class:`bot.commands.Command` naming its
provider; from there on the work is the same: the provider supplies what differs.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot import blocks
from bot.commands import Command
from bot.deps import Deps
from bot.providers.base import Action, Lifecycle
from handlers.common import private

Work = Callable[[Deps, Command, dict[str, Any], AsyncRespond], Coroutine[Any, Any, None]]


def _style(deps: Deps, cmd: Command) -> blocks.Style:
    return deps.service.provider(cmd.provider).style


def _label(deps: Deps, cmd: Command) -> str:
    return _style(deps, cmd).label


def _noun(cmd: Command) -> str:
    return "training of model" if cmd.provider == "bria" else "execution"


def ack_message(cmd: Command) -> dict[str, Any]:
    """What the user sees at once; the real answer follows after the provider replies."""
    if cmd.name != "start":
        return {}
    if cmd.provider == "bria":
        text = f":hourglass_flowing_sand: Starting the training of Bria model `{cmd.ids[0]}`…"
    else:
        text = (
            f":hourglass_flowing_sand: Starting configuration `{cmd.ids[0]}` "
            f"in `{cmd.resource_group}`…"
        )
    return {"response_type": "ephemeral", "text": text}


async def _start(deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond) -> None:
    result = await deps.service.start(
        cmd.provider,
        cmd.resource_group,
        cmd.ids[0],
        cmd.params,
        channel=command["channel_id"],
        user=command["user_id"],
    )
    if result.card_problem:
        await private(
            respond,
            f":white_check_mark: Started {_noun(cmd)} `{result.run.id}` "
            f"({result.run.status}), but {result.card_problem}",
            replace=True,
        )
    else:
        await private(
            respond,
            f":white_check_mark: Started {_noun(cmd)} `{result.run.id}`; its "
            "card in this channel follows it.",
            replace=True,
        )


async def _stop_or_delete(
    deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond
) -> None:
    action: Action = "stop" if cmd.name == "stop" else "delete"
    assessment = await deps.service.assess(cmd.provider, cmd.resource_group, cmd.ids, action)
    if action == "stop" and len(cmd.ids) == 1:
        # One stop needs no confirmation (the interface asks for one from two runs on).
        await _stop_one(deps, cmd, command, respond, assessment)
        return
    if action == "delete" and len(cmd.ids) == 1 and assessment.ineligible:
        run, _why = assessment.ineligible[0]
        if run.lifecycle in (Lifecycle.QUEUED, Lifecycle.RUNNING):
            await private(
                respond,
                blocks.refusal_text(run, "delete", _style(deps, cmd)),
                blocks.stop_then_delete_offer(run, _style(deps, cmd)),
            )
            return
    if not assessment.eligible:
        await private(
            respond,
            blocks=blocks.outcome_blocks(
                action=action,
                label=_label(deps, cmd),
                user_id=command["user_id"],
                outcomes=[],
                ineligible=assessment.ineligible,
                missing=assessment.missing,
                folded=cmd.duplicates_folded,
            ),
        )
        return
    token = await deps.store.create_pending_action(
        provider=cmd.provider,
        scope=cmd.resource_group,
        action=action,
        run_ids=[run.id for run in assessment.eligible],
        user_id=command["user_id"],
        channel=command["channel_id"],
    )
    await private(
        respond,
        blocks=blocks.confirmation_blocks(
            action=action,
            label=_label(deps, cmd),
            eligible=assessment.eligible,
            ineligible=assessment.ineligible,
            missing=assessment.missing,
            token=token,
            folded=cmd.duplicates_folded,
        ),
    )


async def _stop_one(
    deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond, assessment: Any
) -> None:
    if assessment.missing:
        run_id, why = assessment.missing[0]
        await private(respond, f":warning: `{run_id}`: {why}. Nothing was changed.")
        return
    if assessment.ineligible:
        run, _why = assessment.ineligible[0]
        await private(respond, f":warning: {blocks.refusal_text(run, 'stop', _style(deps, cmd))}")
        return
    run = assessment.eligible[0]
    outcomes = await deps.service.act(cmd.provider, cmd.resource_group, [run.id], "stop")
    await private(
        respond,
        blocks=blocks.outcome_blocks(
            action="stop", label=_label(deps, cmd), user_id=command["user_id"], outcomes=outcomes
        ),
    )
    await deps.service.refresh_cards(cmd.provider, cmd.resource_group, run.id)


async def _status(deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond) -> None:
    run = await deps.service.get(cmd.provider, cmd.resource_group, cmd.ids[0])
    card = await deps.service.card_for_channel(run, command["channel_id"])
    await private(respond, blocks.fallback_text(run, _label(deps, cmd)), card)


async def _list(deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond) -> None:
    runs = await deps.service.list_runs(cmd.provider, cmd.resource_group, cmd.status)
    await private(
        respond,
        f"{len(runs)} runs",
        blocks.list_blocks(
            runs, label=_label(deps, cmd), scope=cmd.resource_group, status=cmd.status
        ),
    )


async def _logs(deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond) -> None:
    run = await deps.service.get(cmd.provider, cmd.resource_group, cmd.ids[0])
    entries = await deps.service.tail_logs(run, cmd.lines)
    link = deps.service.log_link(run)
    await private(
        respond,
        f"Logs of {run.id}",
        blocks.logs_blocks(run, entries, label=_label(deps, cmd), requested=cmd.lines, link=link),
    )


async def _watch(deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond) -> None:
    result = await deps.service.watch(
        cmd.provider,
        cmd.resource_group,
        cmd.ids[0],
        channel=command["channel_id"],
        user=command["user_id"],
    )
    if result.card_problem:
        await private(respond, f":warning: {result.card_problem}")


async def _subscribe(
    deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond
) -> None:
    await deps.store.subscribe(
        provider=cmd.provider,
        scope=cmd.resource_group,
        channel=command["channel_id"],
        scenario=cmd.scenario,
        only=cmd.only,
        user_id=command["user_id"],
    )
    what = f"scenario `{cmd.scenario}`" if cmd.scenario else "every scenario"
    only = f", telling it only about {' and '.join(cmd.only)}" if cmd.only else ""
    await respond(
        text=f":bell: <@{command['user_id']}> subscribed this channel to {_label(deps, cmd)} "
        f"runs of {what} "
        f"in `{cmd.resource_group}`{only}, including runs started outside Slack.",
        response_type="in_channel",
        replace_original=False,
    )


async def _unsubscribe(
    deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond
) -> None:
    removed = await deps.store.unsubscribe(
        provider=cmd.provider, scope=cmd.resource_group, channel=command["channel_id"]
    )
    if removed:
        await respond(
            text=f":no_bell: <@{command['user_id']}> unsubscribed this channel from "
            f"`{cmd.resource_group}`. Cards already posted stay current.",
            response_type="in_channel",
            replace_original=False,
        )
    else:
        await private(respond, f"This channel has no subscription to `{cmd.resource_group}`.")


async def _subscriptions(
    deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond
) -> None:
    rows = await deps.store.subscriptions(provider=cmd.provider, channel=command["channel_id"])
    if not rows:
        await private(
            respond,
            "This channel has no subscriptions. "
            "`/aicore subscribe [scenario=<id>] [only=DEAD,PENDING]` adds one.",
        )
        return
    lines = [
        f"• `{row.scope}` · {f'scenario `{row.scenario}`' if row.scenario else 'every scenario'}"
        f"{f' · only {row.only}' if row.only else ''} · by <@{row.created_by}>"
        for row in rows
    ]
    await private(respond, "*This channel's subscriptions*\n" + "\n".join(lines))


WORK: dict[str, Work] = {
    "start": _start,
    "stop": _stop_or_delete,
    "delete": _stop_or_delete,
    "status": _status,
    "list": _list,
    "logs": _logs,
    "watch": _watch,
    "subscribe": _subscribe,
    "unsubscribe": _unsubscribe,
    "subscriptions": _subscriptions,
}
