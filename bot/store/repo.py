"""The store: every read and write the bot makes to its database, as small async methods."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from sqlalchemy import select, update

from bot.store.db import Database
from bot.store.tables import Follow, PendingAction, Subscription

PENDING_ACTION_TTL = timedelta(minutes=15)


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def aware(moment: datetime) -> datetime: ...


@overload
def aware(moment: None) -> None: ...


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; everything we stored was UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


class Store:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock  # tests share the simulator's clock with the store

    # -- follows -----------------------------------------------------------------------------

    async def follow(
        self,
        *,
        provider: str,
        scope: str,
        run_id: str,
        channel: str,
        card_ts: str | None,
        origin: str,
        status: str | None,
        started_by: str | None = None,
        snapshot: dict[str, Any] | None = None,
        status_since: datetime | None = None,
    ) -> Follow:
        """Make ``channel`` follow a run with the card at ``card_ts`` (a newer card wins)."""
        now = self.clock()
        async with self.db.session() as session, session.begin():
            existing = await session.scalar(
                select(Follow).where(
                    Follow.provider == provider,
                    Follow.scope == scope,
                    Follow.run_id == run_id,
                    Follow.channel == channel,
                )
            )
            if existing is not None:
                if card_ts is not None:
                    existing.card_ts = card_ts
                existing.finished = False  # followed again: poll it until final once more
                existing.updated_at = now
                return existing
            row = Follow(
                provider=provider,
                scope=scope,
                run_id=run_id,
                channel=channel,
                card_ts=card_ts,
                origin=origin,
                started_by=started_by,
                announced_status=status,
                status_since=(status_since or now) if status else None,
                pending_alerted=False,
                finished=False,
                snapshot=snapshot or {},
                created_at=now,
                updated_at=now,
            )
            session.add(row)
        return row

    async def set_card(self, follow_id: int, card_ts: str) -> None:
        async with self.db.session() as session, session.begin():
            follow = await session.get(Follow, follow_id)
            if follow is not None:
                follow.card_ts = card_ts
                follow.updated_at = self.clock()

    async def unfollow(self, follow_id: int) -> None:
        async with self.db.session() as session, session.begin():
            follow = await session.get(Follow, follow_id)
            if follow is not None:
                await session.delete(follow)

    async def get_follow(
        self, *, provider: str, scope: str, run_id: str, channel: str
    ) -> Follow | None:
        async with self.db.session() as session:
            return await session.scalar(
                select(Follow).where(
                    Follow.provider == provider,
                    Follow.scope == scope,
                    Follow.run_id == run_id,
                    Follow.channel == channel,
                )
            )

    async def follows_of_run(self, *, provider: str, scope: str, run_id: str) -> list[Follow]:
        async with self.db.session() as session:
            rows = await session.scalars(
                select(Follow).where(
                    Follow.provider == provider, Follow.scope == scope, Follow.run_id == run_id
                )
            )
            return list(rows)

    async def mark_delete_when_stopped(
        self, *, provider: str, scope: str, run_id: str, channel: str, user_id: str
    ) -> bool:
        async with self.db.session() as session, session.begin():
            result = await session.execute(
                update(Follow)
                .where(
                    Follow.provider == provider,
                    Follow.scope == scope,
                    Follow.run_id == run_id,
                    Follow.channel == channel,
                )
                .values(delete_when_stopped_by=user_id, updated_at=self.clock())
            )
            return bool(getattr(result, "rowcount", 0))

    # -- subscriptions -----------------------------------------------------------------------

    async def subscribe(
        self,
        *,
        provider: str,
        scope: str,
        channel: str,
        scenario: str | None,
        only: Sequence[str] | None,
        user_id: str,
    ) -> Subscription:
        """One subscription per channel and scope: subscribing again replaces its filters."""
        async with self.db.session() as session, session.begin():
            row = await session.scalar(
                select(Subscription).where(
                    Subscription.provider == provider,
                    Subscription.scope == scope,
                    Subscription.channel == channel,
                )
            )
            if row is None:
                row = Subscription(
                    provider=provider, scope=scope, channel=channel, created_at=self.clock()
                )
                session.add(row)
            row.scenario = scenario
            row.only = ",".join(only) if only else None
            row.created_by = user_id
        return row

    async def unsubscribe(self, *, provider: str, scope: str | None, channel: str) -> int:
        async with self.db.session() as session, session.begin():
            rows = list(
                await session.scalars(
                    select(Subscription).where(
                        Subscription.provider == provider, Subscription.channel == channel
                    )
                )
            )
            removed = 0
            for row in rows:
                if scope is None or row.scope == scope:
                    await session.delete(row)
                    removed += 1
            return removed

    async def subscriptions(
        self, *, provider: str | None = None, channel: str | None = None
    ) -> list[Subscription]:
        query = select(Subscription).order_by(Subscription.id)
        if provider is not None:
            query = query.where(Subscription.provider == provider)
        if channel is not None:
            query = query.where(Subscription.channel == channel)
        async with self.db.session() as session:
            return list(await session.scalars(query))

    # -- pending bulk actions ----------------------------------------------------------------

    async def create_pending_action(
        self,
        *,
        provider: str,
        scope: str,
        action: str,
        run_ids: Sequence[str],
        user_id: str,
        channel: str,
    ) -> str:
        token = secrets.token_urlsafe(16)
        now = self.clock()
        async with self.db.session() as session, session.begin():
            session.add(
                PendingAction(
                    token=token,
                    provider=provider,
                    scope=scope,
                    action=action,
                    run_ids={"ids": list(run_ids)},
                    user_id=user_id,
                    channel=channel,
                    created_at=now,
                    expires_at=now + PENDING_ACTION_TTL,
                )
            )
        return token

    async def claim_pending_action(self, token: str) -> PendingAction | None:
        """Take a pending action exactly once: a double click or a second replica gets None."""
        now = self.clock()
        async with self.db.session() as session, session.begin():
            result = await session.execute(
                update(PendingAction)
                .where(
                    PendingAction.token == token,
                    PendingAction.consumed_at.is_(None),
                    PendingAction.expires_at > now,
                )
                .values(consumed_at=now)
            )
            if not getattr(result, "rowcount", 0):
                return None
            return await session.get(PendingAction, token)

    async def peek_pending_action(self, token: str) -> PendingAction | None:
        async with self.db.session() as session:
            return await session.get(PendingAction, token)
