"""What the slash commands do after their acknowledgement, for every provider.

``/aicore`` and ``/bria`` parse their own text into a :class:`bot.commands.Command` naming its
provider and record it as a ``command`` job; a worker runs the job with :func:`run_command`.
From there on the work is the same for every provider: the provider supplies what differs.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot import blocks
from bot.commands import Command
from bot.deps import Deps
from bot.jobs import PRIORITY_COMMAND, NewJob
from bot.providers.base import Action, Lifecycle
from bot.runner import JobContext
from bot.service import Assessment
from handlers.common import private, request_key

JOB_KIND = "command"


@dataclass(frozen=True)
class Asked:
    """Who asked, where, and how to answer them."""

    channel: str
    user: str
    respond: AsyncRespond
    job: JobContext


Work = Callable[[Deps, Command, Asked], Coroutine[Any, Any, None]]


def command_job(cmd: Command, command: dict[str, Any], body: dict[str, Any]) -> NewJob:
    payload = {
        "command": cmd.to_dict(),
        "channel_id": command["channel_id"],
        "user_id": command["user_id"],
        "response_url": command.get("response_url"),
        "trigger_id": command.get("trigger_id"),
    }
    return NewJob(
        kind=JOB_KIND,
        payload=payload,
        dedupe_key=request_key(body),
        active_key=cmd.target,
        priority=PRIORITY_COMMAND,
    )


def busy_text(cmd: Command) -> str:
    return f":hourglass: `{cmd.name} {' '.join(cmd.ids)}` is already under way; its answer follows."


async def run_command(deps: Deps, job: JobContext) -> None:
    """The ``command`` job: what the user asked for, now that it was acknowledged."""
    cmd = Command.from_dict(job.payload["command"])
    asked = Asked(
        channel=str(job.payload["channel_id"]),
        user=str(job.payload["user_id"]),
        respond=job.respond,
        job=job,
    )
    await WORK[cmd.name](deps, cmd, asked)


def _style(deps: Deps, cmd: Command) -> blocks.Style:
    return deps.service.provider(cmd.provider).style


def _label(deps: Deps, cmd: Command) -> str:
    return _style(deps, cmd).label


def _noun(cmd: Command) -> str:
    return "training of model" if cmd.provider == "bria" else "execution"


def ack_message(cmd: Command) -> str | None:
    """What the user sees at once; the real answer follows after the provider replies."""
    if cmd.name != "start":
        return None
    if cmd.provider == "bria":
        return f":hourglass_flowing_sand: Starting the training of Bria model `{cmd.ids[0]}`…"
    return (
        f":hourglass_flowing_sand: Starting configuration `{cmd.ids[0]}` in `{cmd.resource_group}`…"
    )


async def _start(deps: Deps, cmd: Command, asked: Asked) -> None:
    result = await deps.service.start(
        cmd.provider,
        cmd.resource_group,
        cmd.ids[0],
        cmd.params,
        channel=asked.channel,
        user=asked.user,
        ledger=asked.job,
        cause=f"job{asked.job.job.id}",
        response_url=asked.job.payload.get("response_url"),
    )
    if asked.job.progress.get("answered"):
        return  # an earlier attempt answered (and replaced the "Starting…" message)
    await private(
        asked.respond,
        f":white_check_mark: Started {_noun(cmd)} `{result.run.id}`; its "
        "card in this channel follows it.",
        replace=True,
    )
    await asked.job.checkpoint(answered=True)


async def _stop_or_delete(deps: Deps, cmd: Command, asked: Asked) -> None:
    action: Action = "stop" if cmd.name == "stop" else "delete"
    respond = asked.respond
    assessment = await deps.service.assess(cmd.provider, cmd.resource_group, cmd.ids, action)
    if action == "stop" and len(cmd.ids) == 1:
        # One stop needs no confirmation (the interface asks for one from two runs on).
        await _stop_one(deps, cmd, asked, assessment)
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
                user_id=asked.user,
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
        user_id=asked.user,
        channel=asked.channel,
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


async def _stop_one(deps: Deps, cmd: Command, asked: Asked, assessment: Assessment) -> None:
    respond = asked.respond
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
            action="stop", label=_label(deps, cmd), user_id=asked.user, outcomes=outcomes
        ),
    )
    await deps.service.refresh_cards(
        cmd.provider, cmd.resource_group, run.id, cause=f"job{asked.job.job.id}"
    )


async def _status(deps: Deps, cmd: Command, asked: Asked) -> None:
    run = await deps.service.get(cmd.provider, cmd.resource_group, cmd.ids[0])
    card = await deps.service.card_for_channel(run, asked.channel)
    await private(asked.respond, blocks.fallback_text(run, _label(deps, cmd)), card)


async def _list(deps: Deps, cmd: Command, asked: Asked) -> None:
    runs = await deps.service.list_runs(cmd.provider, cmd.resource_group, cmd.status)
    await private(
        asked.respond,
        f"{len(runs)} runs",
        blocks.list_blocks(
            runs, label=_label(deps, cmd), scope=cmd.resource_group, status=cmd.status
        ),
    )


async def _logs(deps: Deps, cmd: Command, asked: Asked) -> None:
    run = await deps.service.get(cmd.provider, cmd.resource_group, cmd.ids[0])
    entries = await deps.service.tail_logs(run, cmd.lines)
    link = deps.service.log_link(run)
    await private(
        asked.respond,
        f"Logs of {run.id}",
        blocks.logs_blocks(run, entries, label=_label(deps, cmd), requested=cmd.lines, link=link),
    )


async def _watch(deps: Deps, cmd: Command, asked: Asked) -> None:
    await deps.service.watch(
        cmd.provider,
        cmd.resource_group,
        cmd.ids[0],
        channel=asked.channel,
        cause=f"job{asked.job.job.id}",
    )


async def _subscribe(deps: Deps, cmd: Command, asked: Asked) -> None:
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
    await asked.respond(
        text=f":bell: <@{asked.user}> subscribed this channel to {_label(deps, cmd)} "
        f"runs of {what} "
        f"in `{cmd.resource_group}`{only}, including runs started outside Slack.",
        response_type="in_channel",
        replace_original=False,
    )


async def _unsubscribe(deps: Deps, cmd: Command, asked: Asked) -> None:
    removed = await deps.store.unsubscribe(
        provider=cmd.provider, scope=cmd.resource_group, channel=asked.channel
    )
    if removed:
        await asked.respond(
            text=f":no_bell: <@{asked.user}> unsubscribed this channel from "
            f"`{cmd.resource_group}`. Cards already posted stay current.",
            response_type="in_channel",
            replace_original=False,
        )
    else:
        await private(asked.respond, f"This channel has no subscription to `{cmd.resource_group}`.")


async def _subscriptions(deps: Deps, cmd: Command, asked: Asked) -> None:
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
