"""The store: every read and write the bot makes to its database, as small async methods."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot import outbox
from bot.store.db import Database
from bot.store.tables import Follow, OutboxMessage, PendingAction, Subscription

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
        origin: str,
        status: str | None,
        started_by: str | None = None,
        snapshot: dict[str, Any] | None = None,
        status_since: datetime | None = None,
        card: outbox.PostCard | None = None,
        redraw: outbox.UpdateCard | None = None,
        card_cause: str = "follow",
    ) -> Follow:
        """Make ``channel`` follow a run (again), and queue its card there, at once.

        One statement decides "new or existing" (an upsert), so two replicas following the
        same run in the same channel at the same moment both succeed, with one follow. When
        the follow existed already (a subscription adopted the run a moment earlier) and
        ``redraw`` is given, the existing card is redrawn instead of a second one posted.
        """
        now = self.clock()
        values: dict[str, Any] = {
            "provider": provider,
            "scope": scope,
            "run_id": run_id,
            "channel": channel,
            "card_ts": None,
            "origin": origin,
            "started_by": started_by,
            "announced_status": status,
            "status_since": (status_since or now) if status else None,
            "pending_alerted": False,
            "delete_when_stopped_by": None,
            "finished": False,
            "snapshot": snapshot or {},
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        insert = self.db.insert(Follow).values(**values)
        statement = insert.on_conflict_do_update(
            index_elements=["provider", "scope", "run_id", "channel"],
            set_={
                # Followed again: poll it until it is final once more.
                "finished": False,
                "updated_at": now,
                "version": Follow.version + 1,
                "started_by": func.coalesce(Follow.started_by, insert.excluded.started_by),
            },
        ).returning(Follow)

        def write(session: Session) -> Follow:
            follow: Follow = session.scalars(
                statement, execution_options={"populate_existing": True}
            ).one()
            inserted = aware(follow.created_at) == now
            message: outbox.Message | None = card if inserted or redraw is None else redraw
            if message is not None:
                key = (
                    outbox.Keys.card(follow.id, card_cause)
                    if isinstance(message, outbox.UpdateCard)
                    else outbox.Keys.card_post(follow.id, card_cause)
                )
                self._queue(session, channel, follow.id, message, key)
            return follow

        return await self.db.write(write)

    async def queue_card(
        self, follow: Follow, message: outbox.UpdateCard | outbox.PostCard, cause: str
    ) -> None:
        """Redraw (or post again) a follow's card, through the outbox like every card."""
        key = (
            outbox.Keys.card(follow.id, cause)
            if isinstance(message, outbox.UpdateCard)
            else outbox.Keys.card_post(follow.id, cause)
        )
        await self.db.write(
            lambda session: self._queue(session, follow.channel, follow.id, message, key)
        )

    async def queue_reply(self, follow: Follow, message: outbox.Reply, key: str) -> None:
        """A reply in a follow's card thread, once per ``key``."""
        await self.db.write(
            lambda session: self._queue(session, follow.channel, follow.id, message, key)
        )

    def _queue(
        self,
        session: Session,
        channel: str,
        follow_id: int | None,
        message: outbox.Message,
        key: str,
    ) -> None:
        values = outbox.row(
            channel=channel, follow_id=follow_id, message=message, key=key, now=self.clock()
        )
        session.execute(self.db.insert(OutboxMessage).values(**values).on_conflict_do_nothing())

    async def get_follow(
        self, *, provider: str, scope: str, run_id: str, channel: str
    ) -> Follow | None:
        async with self.db.read() as session:
            return await session.scalar(
                select(Follow).where(
                    Follow.provider == provider,
                    Follow.scope == scope,
                    Follow.run_id == run_id,
                    Follow.channel == channel,
                )
            )

    async def follow_of_card(self, *, channel: str, card_ts: str) -> Follow | None:
        async with self.db.read() as session:
            return await session.scalar(
                select(Follow).where(Follow.channel == channel, Follow.card_ts == card_ts)
            )

    async def follows_of_run(self, *, provider: str, scope: str, run_id: str) -> list[Follow]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(Follow).where(
                    Follow.provider == provider, Follow.scope == scope, Follow.run_id == run_id
                )
            )
            return list(rows)

    async def mark_delete_when_stopped(
        self, *, provider: str, scope: str, run_id: str, channel: str, user_id: str
    ) -> bool:
        statement = (
            update(Follow)
            .where(*_one_follow(provider, scope, run_id, channel))
            # The version moves: a poll cycle that read the follow before the mark was set
            # cannot store its verdict (and finish the follow) over it.
            .values(
                delete_when_stopped_by=user_id,
                finished=False,
                updated_at=self.clock(),
                version=Follow.version + 1,
            )
        )
        result = await self.db.write(lambda session: session.execute(statement))
        return bool(getattr(result, "rowcount", 0))

    async def clear_delete_mark(
        self, *, provider: str, scope: str, run_id: str, channel: str
    ) -> None:
        statement = (
            update(Follow)
            .where(*_one_follow(provider, scope, run_id, channel))
            .values(
                delete_when_stopped_by=None, updated_at=self.clock(), version=Follow.version + 1
            )
        )
        await self.db.write(lambda session: session.execute(statement))

    async def get_follow_by_id(self, follow_id: int) -> Follow | None:
        async with self.db.read() as session:
            return await session.get(Follow, follow_id)

    async def card_on_its_way(self, follow_id: int) -> bool:
        """Whether the follow's card is still waiting in the outbox to be posted."""
        query = select(OutboxMessage.id).where(
            OutboxMessage.follow_id == follow_id,
            OutboxMessage.kind == "card_post",
            OutboxMessage.delivered_at.is_(None),
            OutboxMessage.failed_at.is_(None),
        )
        async with self.db.read() as session:
            return (await session.execute(query.limit(1))).first() is not None

    async def finish_deletion(
        self, follow_id: int, *, deleted: bool, messages: Sequence[tuple[outbox.Message, str]]
    ) -> bool:
        """A "stop, then delete" is over: clear the mark, stop polling the run, and queue
        what to tell the channel, at once. False when it was over already."""

        def write(session: Session) -> bool:
            follow = session.get(Follow, follow_id)
            if follow is None or not follow.delete_when_stopped_by:
                return False
            follow.delete_when_stopped_by = None
            follow.finished = True
            follow.updated_at = self.clock()
            if deleted:
                follow.announced_status = "DELETED"
            for message, key in messages:
                self._queue(session, follow.channel, follow.id, message, key)
            return True

        return await self.db.write(write)

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

        def write(session: Session) -> Subscription:
            row = session.scalar(
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

        return await self.db.write(write)

    async def unsubscribe(self, *, provider: str, scope: str | None, channel: str) -> int:

        def write(session: Session) -> int:
            rows = session.scalars(
                select(Subscription).where(
                    Subscription.provider == provider, Subscription.channel == channel
                )
            )
            removed = 0
            for row in list(rows):
                if scope is None or row.scope == scope:
                    session.delete(row)
                    removed += 1
            return removed

        return await self.db.write(write)

    async def subscriptions(
        self, *, provider: str | None = None, channel: str | None = None
    ) -> list[Subscription]:
        query = select(Subscription).order_by(Subscription.id)
        if provider is not None:
            query = query.where(Subscription.provider == provider)
        if channel is not None:
            query = query.where(Subscription.channel == channel)
        async with self.db.read() as session:
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
        response_url: str | None = None,
    ) -> str:
        token = secrets.token_urlsafe(16)
        now = self.clock()
        pending = PendingAction(
            token=token,
            provider=provider,
            scope=scope,
            action=action,
            run_ids={"ids": list(run_ids)},
            user_id=user_id,
            channel=channel,
            created_at=now,
            expires_at=now + PENDING_ACTION_TTL,
            response_url=response_url,
        )
        await self.db.write(lambda session: session.add(pending))
        return token

    async def claim_pending_action(self, token: str) -> PendingAction | None:
        """Take a pending action exactly once: a double click or a second replica gets None."""
        now = self.clock()

        def write(session: Session) -> PendingAction | None:
            result = session.execute(
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
            return session.get(PendingAction, token)

        return await self.db.write(write)

    async def peek_pending_action(self, token: str) -> PendingAction | None:
        async with self.db.read() as session:
            return await session.get(PendingAction, token)


def _one_follow(provider: str, scope: str, run_id: str, channel: str) -> tuple[Any, ...]:
    """The conditions naming one channel's follow of one run."""
    return (
        Follow.provider == provider,
        Follow.scope == scope,
        Follow.run_id == run_id,
        Follow.channel == channel,
    )
