"""What a user's App Home tab shows, read from the store (never a provider call per run).

- **Your runs**: the runs the user started through the bot, newest first;
- **Running in followed resource groups**: the unfinished runs of every resource group a
  channel subscribes to, as the poller last saw them.

Both come from the follows' snapshots, which the poller keeps current; two queries, however
many runs there are. Each run is drawn once, whatever the number of channels following it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select, tuple_

from bot.blocks.home import home_view
from bot.providers.base import Provider, Run
from bot.store.db import Database
from bot.store.tables import Follow, Subscription

log = logging.getLogger(__name__)

MINE = 10
RUNNING = 20
SCAN = 500  # follows read per section: enough for the newest runs after folding channels


@dataclass(frozen=True)
class HomeRuns:
    mine: list[Run]
    running: list[Run]


async def home_runs(db: Database, providers: Mapping[str, Provider], user: str) -> HomeRuns:
    async with db.read() as session:
        mine = list(
            await session.scalars(
                select(Follow)
                .where(Follow.started_by == user)
                .order_by(Follow.created_at.desc(), Follow.id.desc())
                .limit(SCAN)
            )
        )
        scopes = select(Subscription.provider, Subscription.scope).distinct()
        running = list(
            await session.scalars(
                select(Follow)
                .where(
                    Follow.finished.is_(False),
                    tuple_(Follow.provider, Follow.scope).in_(scopes),
                )
                .order_by(Follow.created_at.desc(), Follow.id.desc())
                .limit(SCAN)
            )
        )
    return HomeRuns(
        mine=_runs(providers, mine, MINE, active_only=False),
        running=_runs(providers, running, RUNNING, active_only=True),
    )


def _runs(
    providers: Mapping[str, Provider], follows: Sequence[Follow], limit: int, *, active_only: bool
) -> list[Run]:
    seen: set[tuple[str, str, str]] = set()
    runs: list[Run] = []
    for follow in follows:
        key = (follow.provider, follow.scope, follow.run_id)
        provider = providers.get(follow.provider)
        if key in seen or provider is None or not follow.snapshot:
            continue
        seen.add(key)
        try:
            run = provider.run_from_snapshot(follow.scope, follow.snapshot)
        except ValidationError:  # one unreadable snapshot must not blank the tab
            log.warning("follow %d has an unreadable snapshot; left off the App Home", follow.id)
            continue
        if active_only and run.lifecycle.terminal:
            continue
        runs.append(run)
        if len(runs) >= limit:
            break
    return runs


async def publish_home(
    db: Database,
    slack: AsyncWebClient,
    providers: Mapping[str, Provider],
    user: str,
    *,
    default_scope: str,
    may_list: Callable[[str], Awaitable[bool]],
) -> None:
    """Publish ``user``'s tab; the runs of others are shown only in the resource groups
    ``may_list`` (the access policy's ``list``) lets them see."""
    found = await home_runs(db, providers, user)
    allowed: dict[str, bool] = {}
    running = []
    for run in found.running:
        if run.scope not in allowed:
            allowed[run.scope] = await may_list(run.scope)
        if allowed[run.scope]:
            running.append(run)
    styles = {name: p.style for name, p in providers.items()}
    view = home_view(mine=found.mine, running=running, styles=styles, default_scope=default_scope)
    await slack.views_publish(user_id=user, view=view)
