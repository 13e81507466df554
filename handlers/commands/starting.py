"""The ``start`` work, however it was asked for: ``start <ID>``, ``start <name>``,
``/bria train <model>``, the start form, or a Re-run button.

- Nothing named: the start form opens (:mod:`handlers.start_form`).
- A name or ID: resolved to one configuration or model (:func:`bot.launch.resolve`); a name
  that names none or several is answered with the candidates, and nothing starts.
- Parameter values from the form that differ from the configuration's: a copy of the
  configuration with them is created first (once per job), then started; the card shows the
  copy, whose name says where it came from.
"""

from __future__ import annotations

from bot import launch
from bot.audit import Result
from bot.blocks.start import StartForm
from bot.commands import Command
from bot.deps import Deps
from bot.providers.base import Target
from bot.service import Followed
from handlers.commands.asked import Asked
from handlers.common import private
from handlers.start_form import open_form

VIA_FORM = "form"  # the job's payload["via"] for a start submitted in the form


async def start(deps: Deps, cmd: Command, asked: Asked) -> None:
    ref = cmd.ids[0] if cmd.ids else cmd.target_name
    payload = asked.job.payload
    if ref is None:
        form = StartForm(
            scope=cmd.resource_group,
            channel=asked.channel or None,
            response_url=payload.get("response_url"),
        )
        await open_form(deps, asked.job, form, trigger_id=payload.get("trigger_id"))
        return
    result, derived_from = await start_target(deps, cmd, ref, asked)
    if asked.job.progress.get("answered"):
        return  # an earlier attempt answered (and replaced the "Starting…" message)
    await private(
        asked.respond,
        started_text(cmd, result, derived_from, in_dm=not asked.channel),
        replace=payload.get("via") != VIA_FORM,
    )
    await asked.job.checkpoint(answered=True)


async def start_target(
    deps: Deps, cmd: Command, ref: str, asked: Asked
) -> tuple[Followed, str | None]:
    """Resolve ``ref``, derive a configuration where the form changed values, start it.
    Returns the started run's follow, and the ID of the configuration it was derived from.

    What was resolved (and derived) is recorded before the start: a resumed attempt starts
    that, whatever has changed since (the run it re-runs deleted, AI Core unavailable).
    """
    provider = deps.service.provider(cmd.provider)
    scope = cmd.resource_group
    job = asked.job
    target_id = job.progress.get("target_id")
    derived_from = job.progress.get("derived_from")
    params = {} if provider.can_derive else dict(cmd.params)
    if not isinstance(target_id, str):
        target, derived_from = await _target_of(deps, cmd, ref, asked)
        target_id = target.id
        await job.checkpoint(target_id=target_id, derived_from=derived_from)
    channel = asked.channel or await deps.direct.channel(asked.user)
    followed = await deps.service.start(
        cmd.provider,
        scope,
        target_id,
        params,
        channel=channel,
        user=asked.user,
        ledger=job,
        cause=f"job{job.job.id}",
        response_url=job.payload.get("response_url"),
    )
    return followed, derived_from if isinstance(derived_from, str) else None


async def _target_of(deps: Deps, cmd: Command, ref: str, asked: Asked) -> tuple[Target, str | None]:
    """The target to start: ``ref``'s, or a copy of it with the form's changed values."""
    provider = deps.service.provider(cmd.provider)
    scope = cmd.resource_group
    target = await launch.resolve(provider, scope, ref)
    if not (provider.can_derive and cmd.params):
        return target, None
    changes = launch.with_changes(target, cmd.params)
    if not changes.changed:
        return target, None
    job_id = asked.job.job.id
    derived = await launch.derive_once(
        provider,
        scope,
        target,
        changes,
        name=launch.derived_name(target, changes.changed, job_id),
        mark=launch.job_mark(job_id),
        ledger=asked.job,
    )
    await deps.audit.note(
        asked.actor,
        "start",
        cmd.provider,
        scope,
        Result.DONE,
        target=derived.id,
        detail=f"configuration {derived.id} created from {target.id}: {changes.describe()}",
    )
    return derived, target.id


def started_text(cmd: Command, result: Followed, derived_from: str | None, *, in_dm: bool) -> str:
    noun = "training of model" if cmd.provider == "bria" else "execution"
    where = "here" if in_dm else "in this channel"
    text = f":white_check_mark: Started {noun} `{result.run.id}`"
    if derived_from is not None:
        text += (
            f" of the new configuration `{result.run.target_id}`, a copy of "
            f"`{derived_from}` with your changes"
        )
    return f"{text}; its card {where} follows it."
