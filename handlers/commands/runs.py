"""What the slash commands do after their acknowledgement, for every provider.

``/aicore`` and ``/bria`` parse their own text into a :class:`bot.commands.Command` naming its
provider and record it as a ``command`` job; a worker runs the job with :func:`run_command`.
From there on the work is the same for every provider: the provider supplies what differs.
``stop``/``delete`` live in :mod:`handlers.commands.stopping`, the channel's subscriptions in
:mod:`handlers.commands.subscriptions`.
"""

from __future__ import annotations

from typing import Any

from bot import blocks
from bot.audit import Result
from bot.commands import Command
from bot.deps import Deps
from bot.jobs import PRIORITY_COMMAND, PRIORITY_INTERACTIVE, NewJob
from bot.runner import JobContext
from handlers.audit import show_audit
from handlers.commands.asked import Asked, Work, label_of
from handlers.commands.starting import start
from handlers.commands.stopping import stop_or_delete
from handlers.commands.subscriptions import subscribe, subscriptions, unsubscribe
from handlers.common import private, request_key

JOB_KIND = "command"


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
        # the start form opens on a trigger that expires 3 s after the command
        priority=PRIORITY_INTERACTIVE if opens_form(cmd) else PRIORITY_COMMAND,
    )


def opens_form(cmd: Command) -> bool:
    return cmd.name == "start" and not cmd.ids and not cmd.target_name


def busy_text(cmd: Command) -> str:
    return f":hourglass: `{cmd.name} {' '.join(cmd.ids)}` is already under way; its answer follows."


async def run_command(deps: Deps, job: JobContext) -> None:
    """The ``command`` job: what the user asked for, now that it was acknowledged."""
    cmd = Command.from_dict(job.payload["command"])
    asked = Asked(
        channel=str(job.payload.get("channel_id") or ""),  # none: the form of the App Home
        user=str(job.payload["user_id"]),
        respond=job.respond,
        job=job,
    )
    await WORK[cmd.name](deps, cmd, asked)


def ack_message(cmd: Command) -> str | None:
    """What the user sees at once; the real answer follows after the provider replies."""
    if cmd.name != "start":
        return None
    if cmd.ids:
        what = f"`{cmd.ids[0]}`"
    elif cmd.target_name:
        what = f"`{blocks.escape(cmd.target_name)}`"
    else:
        return None  # the start form opens instead
    if cmd.provider == "bria":
        return f":hourglass_flowing_sand: Starting the training of Bria model {what}…"
    return f":hourglass_flowing_sand: Starting configuration {what} in `{cmd.resource_group}`…"


async def _status(deps: Deps, cmd: Command, asked: Asked) -> None:
    run = await deps.service.get(cmd.provider, cmd.resource_group, cmd.ids[0])
    card = await deps.service.card_for_channel(run, asked.channel)
    await private(asked.respond, blocks.fallback_text(run, label_of(deps, cmd)), card)


async def _list(deps: Deps, cmd: Command, asked: Asked) -> None:
    runs = await deps.service.list_runs(cmd.provider, cmd.resource_group, cmd.status)
    await private(
        asked.respond,
        f"{len(runs)} runs",
        blocks.list_blocks(
            runs, label=label_of(deps, cmd), scope=cmd.resource_group, status=cmd.status
        ),
    )


async def _logs(deps: Deps, cmd: Command, asked: Asked) -> None:
    run = await deps.service.get(cmd.provider, cmd.resource_group, cmd.ids[0])
    entries = await deps.service.tail_logs(run, cmd.lines)
    link = deps.service.log_link(run)
    await private(
        asked.respond,
        f"Logs of {run.id}",
        blocks.logs_blocks(run, entries, label=label_of(deps, cmd), requested=cmd.lines, link=link),
    )


async def _watch(deps: Deps, cmd: Command, asked: Asked) -> None:
    await deps.service.watch(
        cmd.provider,
        cmd.resource_group,
        cmd.ids[0],
        channel=asked.channel,
        cause=f"job{asked.job.job.id}",
    )
    await deps.audit.note(
        asked.actor, "watch", cmd.provider, cmd.resource_group, Result.DONE, target=cmd.ids[0]
    )


WORK: dict[str, Work] = {
    "start": start,
    "stop": stop_or_delete,
    "delete": stop_or_delete,
    "status": _status,
    "list": _list,
    "logs": _logs,
    "watch": _watch,
    "subscribe": subscribe,
    "unsubscribe": unsubscribe,
    "subscriptions": subscriptions,
    "audit": lambda deps, cmd, asked: show_audit(deps, cmd, asked.respond),
}
