"""``stop`` and ``delete``: one run at once, several after a confirmation, and in a protected
resource group only after the run's ID was typed."""

from __future__ import annotations

from bot import blocks
from bot.commands import Command
from bot.deps import Deps
from bot.providers.base import Action, Lifecycle
from bot.service import Assessment
from handlers.commands.asked import Asked, label_of, style_of
from handlers.common import private
from handlers.protect import ask_for_id


async def stop_or_delete(deps: Deps, cmd: Command, asked: Asked) -> None:
    action: Action = "stop" if cmd.name == "stop" else "delete"
    respond = asked.respond
    protected = deps.guard.is_protected(cmd.resource_group)  # the policy as it is now
    if protected and len(cmd.ids) == 1:
        # The modal first: the trigger expires 3 s after the command, whatever AI Core does.
        await ask_for_id(
            deps,
            cmd.provider,
            cmd.resource_group,
            cmd.ids[0],
            action,
            actor=asked.actor,
            trigger_id=asked.job.payload.get("trigger_id"),
            response_url=asked.job.payload.get("response_url"),
            respond=respond,
        )
        return
    assessment = await deps.service.assess(
        cmd.provider, cmd.resource_group, cmd.ids, action, actor=asked.actor
    )
    if action == "stop" and len(cmd.ids) == 1:
        # One stop needs no confirmation (the interface asks for one from two runs on).
        await _stop_one(deps, cmd, asked, assessment)
        return
    if action == "delete" and len(cmd.ids) == 1 and assessment.ineligible:
        run, _why = assessment.ineligible[0]
        if run.lifecycle in (Lifecycle.QUEUED, Lifecycle.RUNNING) and not protected:
            await private(
                respond,
                blocks.refusal_text(run, "delete", style_of(deps, cmd)),
                blocks.stop_then_delete_offer(run, style_of(deps, cmd)),
            )
            return
    if not assessment.eligible:
        await private(
            respond,
            blocks=blocks.outcome_blocks(
                action=action,
                label=label_of(deps, cmd),
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
            label=label_of(deps, cmd),
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
        await private(respond, f":warning: {blocks.refusal_text(run, 'stop', style_of(deps, cmd))}")
        return
    run = assessment.eligible[0]
    outcomes = await deps.service.act(
        cmd.provider, cmd.resource_group, [run.id], "stop", actor=asked.actor
    )
    await private(
        respond,
        blocks=blocks.outcome_blocks(
            action="stop", label=label_of(deps, cmd), user_id=asked.user, outcomes=outcomes
        ),
    )
    await deps.service.refresh_cards(
        cmd.provider, cmd.resource_group, run.id, cause=f"job{asked.job.job.id}"
    )
