"""Confirm and Cancel of a bulk stop/delete (and of any delete), and the typed-ID confirmation
of a protected resource group (:mod:`handlers.views.protected`).

The pending request lives in the database, so a double click, a second replica or a restart
in between cannot act twice; Confirm re-reads every run before acting. A request in a
protected resource group is executed only by the typed-ID confirmation, whose action ID no
button carries: not by a Confirm button made before the group was protected, nor by a click
that carries the modal's token.
"""

from __future__ import annotations

from typing import Any, cast

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import blocks
from bot.audit import Result
from bot.deps import Deps
from bot.providers.base import Action
from handlers.actions.clicks import Click, ClickWork, record_click
from handlers.common import private


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_click(ack: AsyncAck, body: dict[str, Any]) -> None:
        await record_click(deps, ack, body)

    app.action(blocks.ACTION_BULK_CONFIRM)(on_click)
    app.action(blocks.ACTION_BULK_CANCEL)(on_click)


PROTECTED_NEEDS_ID = (
    ":lock: `{scope}` is a protected resource group: a stop or delete there needs the run's "
    "ID typed into the box the bot opens. Nothing was done; run the command again."
)


async def _owner_check(deps: Deps, click: Click) -> bool:
    """Only the person who asked may confirm or cancel their own request."""
    pending = await deps.store.peek_pending_action(click.value)
    if pending is not None and pending.user_id != click.user:
        await deps.audit.note(
            click.actor,
            pending.action,
            pending.provider,
            pending.scope,
            Result.REFUSED_POLICY,
            detail="only the person who asked may confirm",
        )
        await private(
            click.respond,
            f"Only <@{pending.user_id}>, who asked for this, can confirm or cancel it.",
        )
        return False
    return True


async def _confirm(deps: Deps, click: Click) -> None:
    await _execute(deps, click, typed=False)


async def _confirm_typed(deps: Deps, click: Click) -> None:
    await _execute(deps, click, typed=True)


async def _execute(deps: Deps, click: Click, *, typed: bool) -> None:
    """``typed``: the run's ID was typed into the modal. Its answer goes to the message the
    request came from as a new ephemeral message: that message may be a channel's card."""
    if not await _owner_check(deps, click):
        return
    peeked = await deps.store.peek_pending_action(click.value)
    if not typed and peeked is not None and deps.guard.is_protected(peeked.scope):
        await deps.audit.note(
            click.actor,
            peeked.action,
            peeked.provider,
            peeked.scope,
            Result.REFUSED_POLICY,
            detail="protected: the run's ID was not typed",
        )
        await private(click.respond, PROTECTED_NEEDS_ID.format(scope=peeked.scope))
        return
    pending = await deps.store.claim_pending_action(click.value)
    if pending is None:
        await private(
            click.respond,
            "This request was already handled or has expired (after 15 "
            "minutes). Run the command again if needed.",
            replace=not typed,
        )
        return
    action = cast(Action, pending.action)
    label = deps.service.provider(pending.provider).label
    ids = [str(i) for i in pending.run_ids["ids"]]
    # Statuses may have moved since the confirmation was shown: check again, act on the rest.
    now = await deps.service.assess(pending.provider, pending.scope, ids, action, actor=click.actor)
    outcomes = await deps.service.act(
        pending.provider,
        pending.scope,
        [run.id for run in now.eligible],
        action,
        actor=click.actor,
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
        replace=not typed,
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
    blocks.ACTION_PROTECTED_CONFIRM: _confirm_typed,
}
