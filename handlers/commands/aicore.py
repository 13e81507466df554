"""The ``/aicore`` slash command: parse, refuse bad input in the ack, then work after it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot import blocks
from bot.commands import Command, parse_aicore
from bot.deps import Deps
from bot.errors import InputError
from bot.providers.base import Action, Lifecycle
from handlers.common import answering_errors, private

log = logging.getLogger(__name__)

PROVIDER = "aicore"
LABEL = "AI Core"

Work = Callable[[Deps, Command, dict[str, Any], AsyncRespond], Awaitable[None]]


def register(app: AsyncApp, deps: Deps) -> None:
    async def aicore_command(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]) -> None:
        try:
            parsed = parse_aicore(
                command.get("text") or "",
                default_resource_group=deps.settings.aicore_resource_group,
            )
        except InputError as exc:
            await ack(response_type="ephemeral", text=f":warning: {exc}")
            return
        if parsed.name == "help":
            await ack(
                response_type="ephemeral",
                text=blocks.help_text("/aicore", deps.settings.aicore_resource_group),
            )
            return
        await ack(**_ack_message(parsed))
        await answering_errors(respond, WORK[parsed.name](deps, parsed, command, respond))

    app.command("/aicore")(aicore_command)


def _ack_message(parsed: Command) -> dict[str, Any]:
    """What the user sees at once; the real answer follows after AI Core replies."""
    if parsed.name == "start":
        return {
            "response_type": "ephemeral",
            "text": f":hourglass_flowing_sand: Starting configuration `{parsed.ids[0]}` "
            f"in `{parsed.resource_group}`…",
        }
    return {}


async def _start(deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond) -> None:
    result = await deps.service.start(
        PROVIDER,
        cmd.resource_group,
        cmd.ids[0],
        {},
        channel=command["channel_id"],
        user=command["user_id"],
    )
    if result.card_problem:
        await private(
            respond,
            f":white_check_mark: Started execution `{result.run.id}` "
            f"({result.run.status}), but {result.card_problem}",
            replace=True,
        )
    else:
        await private(
            respond,
            f":white_check_mark: Started execution `{result.run.id}`; its "
            "card in this channel follows it.",
            replace=True,
        )


async def _stop_or_delete(
    deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond
) -> None:
    action: Action = "stop" if cmd.name == "stop" else "delete"
    assessment = await deps.service.assess(PROVIDER, cmd.resource_group, cmd.ids, action)
    if action == "stop" and len(cmd.ids) == 1:
        # One stop needs no confirmation (the interface asks for one from two runs on).
        await _stop_one(deps, cmd, command, respond, assessment)
        return
    if action == "delete" and len(cmd.ids) == 1 and assessment.ineligible:
        run, _why = assessment.ineligible[0]
        if run.lifecycle in (Lifecycle.QUEUED, Lifecycle.RUNNING):
            await private(
                respond,
                blocks.refusal_text(run, "delete", LABEL),
                blocks.stop_then_delete_offer(run, LABEL),
            )
            return
    if not assessment.eligible:
        await private(
            respond,
            blocks=blocks.outcome_blocks(
                action=action,
                label=LABEL,
                user_id=command["user_id"],
                outcomes=[],
                ineligible=assessment.ineligible,
                missing=assessment.missing,
                folded=cmd.duplicates_folded,
            ),
        )
        return
    token = await deps.store.create_pending_action(
        provider=PROVIDER,
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
            label=LABEL,
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
        await private(respond, f":warning: {blocks.refusal_text(run, 'stop', LABEL)}")
        return
    run = assessment.eligible[0]
    outcomes = await deps.service.act(PROVIDER, cmd.resource_group, [run.id], "stop")
    await private(
        respond,
        blocks=blocks.outcome_blocks(
            action="stop", label=LABEL, user_id=command["user_id"], outcomes=outcomes
        ),
    )
    await deps.service.refresh_cards(PROVIDER, cmd.resource_group, run.id)


async def _status(deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond) -> None:
    run = await deps.service.get(PROVIDER, cmd.resource_group, cmd.ids[0])
    card = await deps.service.card_for_channel(run, command["channel_id"])
    await private(respond, blocks.fallback_text(run, LABEL), card)


async def _list(deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond) -> None:
    runs = await deps.service.list_runs(PROVIDER, cmd.resource_group, cmd.status)
    await private(
        respond,
        f"{len(runs)} runs",
        blocks.list_blocks(runs, label=LABEL, scope=cmd.resource_group, status=cmd.status),
    )


async def _logs(deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond) -> None:
    run = await deps.service.get(PROVIDER, cmd.resource_group, cmd.ids[0])
    entries = await deps.service.tail_logs(run, cmd.lines)
    link = deps.service.log_link(run)
    await private(
        respond,
        f"Logs of {run.id}",
        blocks.logs_blocks(run, entries, label=LABEL, requested=cmd.lines, link=link),
    )


async def _watch(deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond) -> None:
    result = await deps.service.watch(
        PROVIDER,
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
        provider=PROVIDER,
        scope=cmd.resource_group,
        channel=command["channel_id"],
        scenario=cmd.scenario,
        only=cmd.only,
        user_id=command["user_id"],
    )
    what = f"scenario `{cmd.scenario}`" if cmd.scenario else "every scenario"
    only = f", telling it only about {' and '.join(cmd.only)}" if cmd.only else ""
    await respond(
        text=f":bell: <@{command['user_id']}> subscribed this channel to {LABEL} runs of {what} "
        f"in `{cmd.resource_group}`{only}, including runs started outside Slack.",
        response_type="in_channel",
        replace_original=False,
    )


async def _unsubscribe(
    deps: Deps, cmd: Command, command: dict[str, Any], respond: AsyncRespond
) -> None:
    removed = await deps.store.unsubscribe(
        provider=PROVIDER, scope=cmd.resource_group, channel=command["channel_id"]
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
    rows = await deps.store.subscriptions(provider=PROVIDER, channel=command["channel_id"])
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
