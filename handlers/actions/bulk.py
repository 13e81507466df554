"""Confirm and Cancel of a bulk stop/delete (and of any delete).

The pending request lives in the database, so a double click, a second replica or a restart
in between cannot act twice; Confirm re-reads every run before acting.
"""

from __future__ import annotations

from typing import Any, cast

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import blocks
from bot.deps import Deps
from bot.providers.base import Action
from handlers.actions.clicks import Click, ClickWork, record_click
from handlers.common import private


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_click(ack: AsyncAck, body: dict[str, Any]) -> None:
        await record_click(deps, ack, body)

    app.action(blocks.ACTION_BULK_CONFIRM)(on_click)
    app.action(blocks.ACTION_BULK_CANCEL)(on_click)


async def _owner_check(deps: Deps, click: Click) -> bool:
    """Only the person who asked may confirm or cancel their own request."""
    pending = await deps.store.peek_pending_action(click.value)
    if pending is not None and pending.user_id != click.user:
        await private(
            click.respond,
            f"Only <@{pending.user_id}>, who asked for this, can confirm or cancel it.",
        )
        return False
    return True


async def _confirm(deps: Deps, click: Click) -> None:
    if not await _owner_check(deps, click):
        return
    pending = await deps.store.claim_pending_action(click.value)
    if pending is None:
        await private(
            click.respond,
            "This request was already handled or has expired (after 15 "
            "minutes). Run the command again if needed.",
            replace=True,
        )
        return
    action = cast(Action, pending.action)
    label = deps.service.provider(pending.provider).label
    ids = [str(i) for i in pending.run_ids["ids"]]
    # Statuses may have moved since the confirmation was shown: check again, act on the rest.
    now = await deps.service.assess(pending.provider, pending.scope, ids, action)
    outcomes = await deps.service.act(
        pending.provider, pending.scope, [run.id for run in now.eligible], action
    )
    await private(
        click.respond,
        f"{len(outcomes)} runs",
        blocks.outcome_blocks(
            action=action,
            label=label,
            user_id=pending.user_id,
            outcomes=outcomes,
            ineligible=now.ineligible,
            missing=now.missing,
        ),
        replace=True,
    )
    for outcome in outcomes:
        if outcome.ok:
            await deps.service.refresh_cards(
                pending.provider,
                pending.scope,
                outcome.run_id,
                cause=click.cause,
                deleted_by=pending.user_id if action == "delete" else None,
            )


async def _cancel(deps: Deps, click: Click) -> None:
    if not await _owner_check(deps, click):
        return
    pending = await deps.store.claim_pending_action(click.value)
    if pending is None:
        await private(
            click.respond, "This request was already handled or has expired.", replace=True
        )
        return
    await private(
        click.respond,
        f"Cancelled: nothing was {'stopped' if pending.action == 'stop' else 'deleted'}.",
        replace=True,
    )


CLICKS: dict[str, ClickWork] = {
    blocks.ACTION_BULK_CONFIRM: _confirm,
    blocks.ACTION_BULK_CANCEL: _cancel,
}
