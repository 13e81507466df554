"""The status card's buttons: Stop, Delete, Logs, Refresh, and "Stop, then delete".

A card can be hours old: every click re-reads the run's current status before acting and
answers a stale button with what changed instead of an error. The listeners only record the
click; the functions below are its work.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError

from bot import blocks
from bot.audit import Result
from bot.deps import Deps
from bot.errors import ChatOpsError, NotFoundError
from bot.providers.base import Action, Run
from handlers.actions.clicks import Click, ClickWork, record_click
from handlers.common import private
from handlers.protect import ask_for_id

log = logging.getLogger(__name__)

PROTECTED_STOP_FIRST = (
    ":lock: `{scope}` is a protected resource group: stop `{run_id}` first (the bot asks you "
    "to type its ID), then delete it. Nothing was done."
)


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_click(ack: AsyncAck, body: dict[str, Any]) -> None:
        await record_click(deps, ack, body)

    async def on_logs(ack: AsyncAck, body: dict[str, Any]) -> None:
        await record_click(deps, ack, body, per_user=True)

    for action_id in (
        blocks.ACTION_STOP,
        blocks.ACTION_DELETE,
        blocks.ACTION_REFRESH,
        blocks.ACTION_STOP_THEN_DELETE,
    ):
        app.action(action_id)(on_click)
    app.action(blocks.ACTION_LOGS)(on_logs)


async def _current(deps: Deps, click: Click) -> tuple[Run | None, str, str, str]:
    provider, scope, run_id = click.run_ref()
    try:
        return await deps.service.get(provider, scope, run_id), provider, scope, run_id
    except NotFoundError:
        return None, provider, scope, run_id


async def _stop(deps: Deps, click: Click) -> None:
    await _act(deps, click, "stop")


async def _delete(deps: Deps, click: Click) -> None:
    await _act(deps, click, "delete")


async def _act(deps: Deps, click: Click, action: Action) -> None:
    provider, scope, run_id = click.run_ref()
    if deps.guard.is_protected(scope):
        # The modal first: the trigger expires 3 s after the click, whatever AI Core does.
        await ask_for_id(
            deps,
            provider,
            scope,
            run_id,
            action,
            actor=click.actor,
            trigger_id=click.trigger_id,
            response_url=click.job.payload.get("response_url"),
            respond=click.respond,
        )
        return
    run, provider, scope, run_id = await _current(deps, click)
    label = deps.service.provider(provider).label
    if run is None:
        await private(
            click.respond,
            f"{label} `{run_id}` no longer exists (it was deleted). Nothing was changed.",
        )
        await _show_card(deps, click, None, provider, scope, run_id)
        return
    if not deps.service.provider(provider).allows(run.status, action):
        await deps.audit.note_refused(
            click.actor,
            action,
            scope,
            [(run, blocks.refusal_reason(run, action, deps.service.provider(provider).style))],
        )
        await private(
            click.respond,
            f":information_source: This button is out of date. "
            f"{blocks.refusal_text(run, action, deps.service.provider(provider).style)}",
        )
        await _show_card(deps, click, run, provider, scope, run_id)
        return
    outcomes = await deps.service.act(provider, scope, [run.id], action, actor=click.actor)
    await private(
        click.respond,
        blocks=blocks.outcome_blocks(
            action=action, label=label, user_id=click.user, outcomes=outcomes
        ),
    )
    if action == "delete" and outcomes and outcomes[0].ok:
        note = f"Deleted by <@{click.user}>."
        await _show_card(deps, click, run, provider, scope, run_id, note=note, deleted=True)
        return
    redrawn = await deps.service.refresh_cards(provider, scope, run.id, cause=click.cause)
    if (click.channel, click.message_ts) not in redrawn:
        await _show_card(deps, click, None, provider, scope, run_id, reread=True)


async def _stop_then_delete(deps: Deps, click: Click) -> None:
    """Mark the run, then stop it; the poller deletes it once it sees it stopped.

    The mark goes first: a poll cycle that sees the run stopped must find it there, or the run
    would never be deleted although the user was told it would be.
    """
    _provider, scope, run_id = click.run_ref()
    if deps.guard.is_protected(scope):
        await deps.audit.note(
            click.actor,
            "delete",
            _provider,
            scope,
            Result.REFUSED_POLICY,
            target=run_id,
            detail="protected: stop, then delete is not offered",
        )
        await private(click.respond, PROTECTED_STOP_FIRST.format(scope=scope, run_id=run_id))
        return
    run, provider_name, scope, run_id = await _current(deps, click)
    provider = deps.service.provider(provider_name)
    if run is None:
        await private(click.respond, f"{provider.label} `{run_id}` no longer exists.", replace=True)
        return
    if provider.allows(run.status, "delete"):
        outcomes = await deps.service.act(
            provider_name, scope, [run.id], "delete", actor=click.actor
        )
        await private(
            click.respond,
            blocks=blocks.outcome_blocks(
                action="delete", label=provider.label, user_id=click.user, outcomes=outcomes
            ),
            replace=True,
        )
        await deps.service.refresh_cards(
            provider_name, scope, run.id, cause=click.cause, deleted_by=click.user
        )
        return
    channel = click.channel or ""
    if (
        await deps.store.get_follow(
            provider=provider_name, scope=scope, run_id=run.id, channel=channel
        )
        is None
    ):
        await deps.service.follow_run(
            run, channel=channel, started_by=None, origin="watch", cause=click.cause
        )
    await deps.store.mark_delete_when_stopped(
        provider=provider_name, scope=scope, run_id=run.id, channel=channel, user_id=click.user
    )
    if provider.allows(run.status, "stop"):
        outcomes = await deps.service.act(provider_name, scope, [run.id], "stop", actor=click.actor)
        if not outcomes or not outcomes[0].ok:
            await deps.store.clear_delete_mark(
                provider=provider_name, scope=scope, run_id=run.id, channel=channel
            )
            await private(
                click.respond,
                blocks=blocks.outcome_blocks(
                    action="stop", label=provider.label, user_id=click.user, outcomes=outcomes
                ),
            )
            return
    await private(
        click.respond,
        f":octagonal_sign: Stopping {provider.label} `{run.id}`; I will delete "
        "it once it has stopped. Its card in this channel follows it.",
        replace=True,
    )


async def _refresh(deps: Deps, click: Click) -> None:
    run, provider, scope, run_id = await _current(deps, click)
    await _show_card(deps, click, run, provider, scope, run_id)


async def _show_card(
    deps: Deps,
    click: Click,
    run: Run | None,
    provider: str,
    scope: str,
    run_id: str,
    *,
    note: str | None = None,
    deleted: bool = False,
    reread: bool = False,
) -> None:
    """Redraw the card the click came from (a channel's card through the outbox; an
    ephemeral one through the response URL)."""
    if click.from_home:
        return  # the tab is drawn again after the click (handlers.actions.run_click)
    if reread:
        try:
            run = await deps.service.get(provider, scope, run_id)
        except NotFoundError:
            run = None
    if run is None:
        gone = Run(
            provider=provider,
            scope=scope,
            id=run_id,
            status="DELETED",
            lifecycle=deps.service.provider(provider).lifecycle_of("UNKNOWN"),
        )
        run, deleted = gone, True
    if click.ephemeral or not click.channel or not click.message_ts:
        card = deps.service.card(run, note=note, deleted=deleted)
        await click.respond(
            text=blocks.fallback_text(run, deps.service.provider(provider).label),
            blocks=card,
            replace_original=True,
        )
        return
    await deps.service.redraw_clicked_card(
        run,
        channel=click.channel,
        ts=click.message_ts,
        cause=click.cause,
        note=note,
        deleted=deleted,
    )


async def _logs(deps: Deps, click: Click) -> None:
    """Open a modal at once (the trigger expires 3 s after the click), then fill it."""
    provider, scope, run_id = click.run_ref()
    label = deps.service.provider(provider).label
    placeholder = Run(
        provider=provider,
        scope=scope,
        id=run_id,
        status="…",
        lifecycle=deps.service.provider(provider).lifecycle_of("UNKNOWN"),
    )
    slack = deps.service.slack
    try:
        opened = await slack.views_open(
            trigger_id=click.trigger_id, view=blocks.logs_modal(placeholder, None, label=label)
        )
    except SlackApiError as exc:  # typically expired_trigger_id: the click is 3 s old
        log.info("the Logs modal could not open: %s", exc.response.get("error"))
        command = "/bria status" if provider == "bria" else "/aicore logs"
        await private(
            click.respond,
            f"The logs window could not be opened in time. `{command} {run_id}` shows them.",
        )
        return
    view = opened["view"]
    try:
        run = await deps.service.get(provider, scope, run_id)
        entries = await deps.service.tail_logs(run, 100)
        modal = blocks.logs_modal(run, entries, label=label, link=deps.service.log_link(run))
    except ChatOpsError as exc:
        modal = blocks.logs_modal(placeholder, None, label=label, error=exc.user_text())
    await slack.views_update(view_id=view["id"], hash=view.get("hash"), view=modal)


CLICKS: dict[str, ClickWork] = {
    blocks.ACTION_STOP: _stop,
    blocks.ACTION_DELETE: _delete,
    blocks.ACTION_REFRESH: _refresh,
    blocks.ACTION_STOP_THEN_DELETE: _stop_then_delete,
    blocks.ACTION_LOGS: _logs,
}
