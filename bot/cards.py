"""A follow's card as an outbox message: the one way cards reach channels.

The card of a followed run is posted and redrawn only through the outbox (by delivery), so
that one writer orders every change of a card, paces it and never sends it twice. The poller
and the jobs (start, watch, a click that changed a run) compose cards here.
"""

from __future__ import annotations

from typing import Any

from bot import blocks
from bot.outbox import PostCard, UpdateCard
from bot.providers.base import Provider, Run


def post_card(
    run: Run, provider: Provider, *, started_by: str | None, response_url: str | None = None
) -> PostCard:
    return PostCard(
        text=blocks.fallback_text(run, provider.label),
        blocks=blocks.run_card(run, style=provider.style, started_by=started_by),
        response_url=response_url,
    )


def update_card(
    run: Run,
    provider: Provider,
    *,
    started_by: str | None,
    note: str | None = None,
    deleted: bool = False,
) -> UpdateCard:
    return UpdateCard(
        text=blocks.fallback_text(run, provider.label),
        blocks=blocks.run_card(
            run, style=provider.style, started_by=started_by, note=note, deleted=deleted
        ),
    )


def last_known(provider: Provider, scope: str, run_id: str, snapshot: dict[str, Any]) -> Run:
    """The run as last stored (a deleted run can no longer be read)."""
    if snapshot:
        return provider.run_from_snapshot(scope, snapshot)
    return Run(
        provider=provider.name,
        scope=scope,
        id=run_id,
        status="DELETED",
        lifecycle=provider.lifecycle_of("UNKNOWN"),
    )
