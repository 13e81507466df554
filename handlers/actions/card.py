"""The status card's buttons: Stop, Delete, Logs, Refresh.

A card can be hours old: every click re-reads the run's current status before acting and
answers a stale button with what changed instead of an error.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.deps import Deps
from bot.errors import ChatOpsError, InputError, NotFoundError
from bot.providers.base import Action, Run
from handlers.common import answering_errors, describe, error_text, private

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_stop(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await answering_errors(deps, respond, _act(deps, body, respond, "stop"))

    async def on_delete(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await answering_errors(deps, respond, _act(deps, body, respond, "delete"))

    async def on_refresh(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await answering_errors(deps, respond, _refresh(deps, body, respond))

    async def on_logs(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        await ack()
        await deps.offload(_logs(deps, body, respond, client))

    async def on_stop_then_delete(
        ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        await answering_errors(deps, respond, _stop_then_delete(deps, body, respond))

    app.action(blocks.ACTION_STOP_THEN_DELETE)(on_stop_then_delete)
    app.action(blocks.ACTION_STOP)(on_stop)
    app.action(blocks.ACTION_DELETE)(on_delete)
    app.action(blocks.ACTION_REFRESH)(on_refresh)
    app.action(blocks.ACTION_LOGS)(on_logs)


def clicked_ref(body: dict[str, Any]) -> tuple[str, str, str]:
    try:
        return blocks.parse_run_ref(body["actions"][0]["value"])
    except (KeyError, IndexError, ValueError, TypeError):
        raise InputError(
            "This button is from an older version of the bot; use the slash command instead."
        ) from None


async def _current(deps: Deps, body: dict[str, Any]) -> tuple[Run | None, str, str, str]:
    provider, scope, run_id = clicked_ref(body)
    try:
        return await deps.service.get(provider, scope, run_id), provider, scope, run_id
    except NotFoundError:
        return None, provider, scope, run_id


async def _act(deps: Deps, body: dict[str, Any], respond: AsyncRespond, action: Action) -> None:
    user = body["user"]["id"]
    run, provider, scope, run_id = await _current(deps, body)
    label = deps.service.provider(provider).label
    if run is None:
        await private(
            respond, f"{label} `{run_id}` no longer exists (it was deleted). Nothing was changed."
        )
        await _show_card(deps, body, respond, None, provider, scope, run_id)
        return
    if not deps.service.provider(provider).allows(run.status, action):
        await private(
            respond,
            f":information_source: This button is out of date. "
            f"{blocks.refusal_text(run, action, deps.service.provider(provider).style)}",
        )
        await _show_card(deps, body, respond, run, provider, scope, run_id)
        return
    outcomes = await deps.service.act(provider, scope, [run.id], action)
    await private(
        respond,
        blocks=blocks.outcome_blocks(action=action, label=label, user_id=user, outcomes=outcomes),
    )
    if action == "delete" and outcomes and outcomes[0].ok:
        note = f"Deleted by <@{user}>."
        await _show_card(deps, body, respond, run, provider, scope, run_id, note=note, deleted=True)
        return
    updated = await deps.service.refresh_cards(provider, scope, run.id)
    if _clicked_card(body) not in updated:
        await _show_card(deps, body, respond, None, provider, scope, run_id, reread=True)


def _clicked_card(body: dict[str, Any]) -> tuple[str | None, str | None]:
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    return channel, container.get("message_ts")


async def _stop_then_delete(deps: Deps, body: dict[str, Any], respond: AsyncRespond) -> None:
    """Stop now; the poller deletes the run once it sees it stopped (kept in the database)."""
    user = body["user"]["id"]
    run, provider_name, scope, run_id = await _current(deps, body)
    provider = deps.service.provider(provider_name)
    if run is None:
        await private(respond, f"{provider.label} `{run_id}` no longer exists.", replace=True)
        return
    if provider.allows(run.status, "delete"):
        outcomes = await deps.service.act(provider_name, scope, [run.id], "delete")
        await private(
            respond,
            blocks=blocks.outcome_blocks(
                action="delete", label=provider.label, user_id=user, outcomes=outcomes
            ),
            replace=True,
        )
        await deps.service.refresh_cards(provider_name, scope, run.id, deleted_by=user)
        return
    if provider.allows(run.status, "stop"):
        outcomes = await deps.service.act(provider_name, scope, [run.id], "stop")
        if not outcomes or not outcomes[0].ok:
            await private(
                respond,
                blocks=blocks.outcome_blocks(
                    action="stop", label=provider.label, user_id=user, outcomes=outcomes
                ),
            )
            return
    channel = _clicked_card(body)[0] or ""
    if (
        await deps.store.get_follow(
            provider=provider_name, scope=scope, run_id=run.id, channel=channel
        )
        is None
    ):
        await deps.service.post_card(run, channel=channel, started_by=None, origin="watch")
    await deps.store.mark_delete_when_stopped(
        provider=provider_name, scope=scope, run_id=run.id, channel=channel, user_id=user
    )
    await private(
        respond,
        f":octagonal_sign: Stopping {provider.label} `{run.id}`; I will delete "
        "it once it has stopped. Its card in this channel follows it.",
        replace=True,
    )


async def _refresh(deps: Deps, body: dict[str, Any], respond: AsyncRespond) -> None:
    run, provider, scope, run_id = await _current(deps, body)
    await _show_card(deps, body, respond, run, provider, scope, run_id)


async def _show_card(
    deps: Deps,
    body: dict[str, Any],
    respond: AsyncRespond,
    run: Run | None,
    provider: str,
    scope: str,
    run_id: str,
    *,
    note: str | None = None,
    deleted: bool = False,
    reread: bool = False,
) -> None:
    """Redraw the card the click came from, in place (ephemeral cards through response_url)."""
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
    channel, message_ts = _clicked_card(body)
    if (body.get("container") or {}).get("is_ephemeral") or not channel or not message_ts:
        card = deps.service.card(run, note=note, deleted=deleted)
        await respond(
            text=blocks.fallback_text(run, deps.service.provider(provider).label),
            blocks=card,
            replace_original=True,
        )
        return
    await deps.service.update_card(run, channel=channel, ts=message_ts, note=note, deleted=deleted)


async def _logs(
    deps: Deps, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
) -> None:
    """Open a modal at once (the trigger expires in 3 s), then fill it with the lines."""
    try:
        provider, scope, run_id = clicked_ref(body)
    except InputError as exc:
        await private(respond, error_text(exc))
        return
    label = deps.service.provider(provider).label
    placeholder = Run(
        provider=provider,
        scope=scope,
        id=run_id,
        status="…",
        lifecycle=deps.service.provider(provider).lifecycle_of("UNKNOWN"),
    )
    opened = await client.views_open(
        trigger_id=body["trigger_id"], view=blocks.logs_modal(placeholder, None, label=label)
    )
    view = opened["view"]
    try:
        run = await deps.service.get(provider, scope, run_id)
        entries = await deps.service.tail_logs(run, 100)
        modal = blocks.logs_modal(run, entries, label=label, link=deps.service.log_link(run))
    except ChatOpsError as exc:
        modal = blocks.logs_modal(placeholder, None, label=label, error=describe(exc))
    await client.views_update(view_id=view["id"], hash=view.get("hash"), view=modal)
