"""The writer: one scope's verdicts stored with the messages that announce them, at once.

In one transaction, fenced by the scope's lease: each follow's new state (checked against the
version the rules read: a follow changed meanwhile, by a job or another writer, aborts the
write and the next cycle judges again), the outbox messages, the follows of runs new to a
subscribed channel, the jobs the cycle gives the bot ("stop, then delete"), and what the scope
remembers. Either all of it is stored, or none of it.

A channel told more than ``digest_threshold`` things in one cycle, or told several after an
outage (``catch_up``), gets one digest instead of a storm; cards still move one by one.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot import cards
from bot.jobs import PRIORITY_BACKGROUND, JobQueue, NewJob
from bot.loglinks import LogLinks
from bot.outbox import Keys, Message, row
from bot.poll import compose
from bot.poll.discovery import Details
from bot.poll.rules import (
    CLOCK_SKEW,
    Announcement,
    FollowView,
    Say,
    Verdict,
    adopt,
    alert_filter,
)
from bot.providers.base import Provider, Run
from bot.store.db import Database
from bot.store.repo import aware
from bot.store.tables import Follow, OutboxMessage, PollScope, Subscription

STOP_THEN_DELETE_JOB = "stop_then_delete"


class StaleFollow(Exception):
    """A follow changed after the rules read it: the cycle's verdicts for the scope are void."""


@dataclass(frozen=True)
class WriterConfig:
    digest_threshold: int = 10
    catch_up_min_messages: int = 3
    dm_on_dead: bool = True  # whoever started a run that dies hears it directly


@dataclass
class _Outgoing:
    channel: str
    follow_id: int | None
    composed: compose.Composed
    key: str


@dataclass
class Written:
    transitions: int = 0
    messages: int = 0
    jobs: int = 0
    new_follows: int = 0
    keys: list[str] = field(default_factory=list)


class Writer:
    def __init__(
        self, *, db: Database, log_links: LogLinks | None, config: WriterConfig | None = None
    ) -> None:
        self.db = db
        self.log_links = log_links
        self.config = config or WriterConfig()

    def write(
        self,
        session: Session,
        *,
        provider: Provider,
        scope: str,
        verdicts: Sequence[Verdict],
        new_runs: Sequence[Run],
        subscriptions: Sequence[Subscription],
        details: Details,
        memory: dict[str, Any],
        now: datetime,
        catch_up: bool,
    ) -> Written:
        """Everything goes into ``session``'s transaction (the caller fenced and commits it;
        it runs in a writer thread, see :mod:`bot.store.db`)."""
        written = Written()
        outgoing: list[_Outgoing] = []
        gone = {v.follow.id for v in verdicts if v.run is None}
        snapshots = self._snapshots(session, gone)
        for verdict in verdicts:
            self._store(session, verdict, now)
            written.transitions += int(verdict.changed)
            run = verdict.run or cards.last_known(
                provider, scope, verdict.follow.run_id, snapshots.get(verdict.follow.id, {})
            )
            outgoing += self._announce(verdict, run, provider, details)
            if verdict.delete_now:
                written.jobs += self._finish_later(session, verdict)
        for run, follow in self._adopt(session, provider, scope, new_runs, subscriptions, now):
            written.new_follows += 1
            for announcement in adopt(run, alerts_only=follow.only):
                outgoing.append(self._new_run_message(announcement, follow, run, provider, details))
        written.messages, written.keys = self._queue(
            session, outgoing, provider, scope, now, catch_up
        )
        self._remember(session, provider.name, scope, memory)
        return written

    # -- follows -----------------------------------------------------------------------------

    def _snapshots(self, session: Session, ids: set[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = session.execute(select(Follow.id, Follow.snapshot).where(Follow.id.in_(ids)))
        return {follow_id: snapshot or {} for follow_id, snapshot in rows}

    def _store(self, session: Session, verdict: Verdict, now: datetime) -> None:
        follow = verdict.follow
        values: dict[str, Any] = {
            "announced_status": verdict.status,
            "status_since": verdict.status_since,
            "pending_alerted": verdict.pending_alerted,
            "finished": verdict.finished,
            "updated_at": now,
            "version": Follow.version + 1,
        }
        if verdict.changed and verdict.run is not None:
            values["snapshot"] = verdict.run.raw
        result = session.execute(
            update(Follow)
            .where(Follow.id == follow.id, Follow.version == follow.version)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if not getattr(result, "rowcount", 0):
            raise StaleFollow(f"follow {follow.id} changed since version {follow.version}")

    def _finish_later(self, session: Session, verdict: Verdict) -> int:
        follow = verdict.follow
        JobQueue.add(
            session,
            NewJob(
                kind=STOP_THEN_DELETE_JOB,
                payload={"follow_id": follow.id},
                dedupe_key=f"{STOP_THEN_DELETE_JOB}:{follow.id}",
                priority=PRIORITY_BACKGROUND,
            ),
            self.db,
        )
        return 1

    def _adopt(
        self,
        session: Session,
        provider: Provider,
        scope: str,
        new_runs: Sequence[Run],
        subscriptions: Sequence[Subscription],
        now: datetime,
    ) -> list[tuple[Run, FollowView]]:
        """Follows for runs new to subscribed channels (one per channel, created once)."""
        adopted: list[tuple[Run, FollowView]] = []
        for run in sorted(new_runs, key=lambda r: (r.created_at or now, r.id)):
            for sub in subscriptions:
                if sub.scenario and run.scenario != sub.scenario:
                    continue
                if run.created_at is not None and run.created_at < _since(sub):
                    continue
                origin = "alerts" if sub.only else "subscription"
                follow_id = session.scalar(
                    self.db.insert(Follow)
                    .values(
                        provider=provider.name,
                        scope=scope,
                        run_id=run.id,
                        channel=sub.channel,
                        card_ts=None,
                        origin=origin,
                        started_by=None,
                        announced_status=run.status,
                        status_since=run.modified_at or now,
                        pending_alerted=False,
                        delete_when_stopped_by=None,
                        snapshot=run.raw,
                        finished=run.lifecycle.terminal,
                        version=1,
                        created_at=now,
                        updated_at=now,
                    )
                    .on_conflict_do_nothing()
                    .returning(Follow.id)
                )
                if follow_id is None:
                    continue  # the channel follows it already
                adopted.append((run, _view(follow_id, sub, run, now)))
        return adopted

    # -- messages ----------------------------------------------------------------------------

    def _announce(
        self, verdict: Verdict, run: Run, provider: Provider, details: Details
    ) -> list[_Outgoing]:
        follow = verdict.follow
        found = []
        for announcement in verdict.announcements:
            if announcement.say is Say.CHART and run.id not in details.charts:
                continue  # it logged no series (or they could not be read)
            composed = compose.compose(
                announcement,
                follow=follow,
                run=run,
                previous=verdict.previous_status,
                provider=provider,
                details=details,
                log_links=self.log_links,
                deleted=verdict.run is None,
            )
            found.append(
                _Outgoing(follow.channel, follow.id, composed, _key(announcement, verdict))
            )
            if (
                announcement.say is Say.DEAD
                and follow.started_by
                and self.config.dm_on_dead
                and not follow.channel.startswith("D")  # the card is in that DM already
            ):
                found.append(self._direct(follow, follow.started_by, run, composed, verdict))
        return found

    def _direct(
        self,
        follow: FollowView,
        user: str,
        run: Run,
        alert: compose.Composed,
        verdict: Verdict,
    ) -> _Outgoing:
        """The DEAD alert again, in the DM of the user who started the run."""
        message = compose.direct(alert.message, channel=follow.channel)
        since = verdict.status_since or follow.created_at
        key = Keys.direct(run.provider, run.scope, run.id, since)
        return _Outgoing(user, None, compose.Composed(message, None, loud=True), key)

    def _new_run_message(
        self,
        announcement: Announcement,
        follow: FollowView,
        run: Run,
        provider: Provider,
        details: Details,
    ) -> _Outgoing:
        if announcement.say is Say.CARD:
            message = cards.post_card(run, provider, started_by=None)
            composed = compose.Composed(message, compose.new_run_line(run))
            return _Outgoing(follow.channel, follow.id, composed, Keys.card_post(follow.id, "new"))
        composed = compose.compose(
            announcement,
            follow=follow,
            run=run,
            previous=None,
            provider=provider,
            details=details,
            log_links=self.log_links,
        )
        key = Keys.alert("dead", follow.id, follow.status_since or follow.created_at)
        return _Outgoing(follow.channel, follow.id, composed, key)

    def _queue(
        self,
        session: Session,
        outgoing: list[_Outgoing],
        provider: Provider,
        scope: str,
        now: datetime,
        catch_up: bool,
    ) -> tuple[int, list[str]]:
        by_channel: dict[str, list[_Outgoing]] = defaultdict(list)
        for item in outgoing:
            by_channel[item.channel].append(item)
        cycle = uuid.uuid4().hex[:12]
        keys: list[str] = []
        for channel, items in by_channel.items():
            chatty = [i for i in items if _folds(i.composed.message) and i.composed.digest_line]
            burst = len(chatty) > self.config.digest_threshold
            if burst or (catch_up and len(chatty) >= self.config.catch_up_min_messages):
                lines = [i.composed.digest_line or "" for i in chatty]
                digest: Message = compose.digest(lines, label=provider.label, catch_up=catch_up)
                key = Keys.digest(channel, provider.name, scope, cycle)
                self._insert(session, channel, None, digest, key, now)
                keys.append(key)
                folded = {id(i) for i in chatty}
                items = [i for i in items if id(i) not in folded]
            waiting = [i for i in items if i.composed.waiting is not None]
            if len(waiting) > 1:
                group = compose.pending_group(
                    [i.composed.waiting for i in waiting if i.composed.waiting],
                    label=provider.label,
                    scope=scope,
                )
                key = Keys.pending_group(channel, [i.key for i in waiting])
                self._insert(session, channel, None, group, key, now)
                keys.append(key)
                grouped = {id(i) for i in waiting}
                items = [i for i in items if id(i) not in grouped]
            for item in items:
                self._insert(session, channel, item.follow_id, item.composed.message, item.key, now)
                keys.append(item.key)
        return len(keys), keys

    def _insert(
        self,
        session: Session,
        channel: str,
        follow_id: int | None,
        message: Message,
        key: str,
        now: datetime,
    ) -> None:
        values = row(channel=channel, follow_id=follow_id, message=message, key=key, now=now)
        session.execute(self.db.insert(OutboxMessage).values(**values).on_conflict_do_nothing())

    def _remember(
        self, session: Session, provider: str, scope: str, memory: dict[str, Any]
    ) -> None:
        values = {**memory, "failures": 0, "last_error": None}
        session.execute(
            self.db.insert(PollScope)
            .values(provider=provider, scope=scope, **values)
            .on_conflict_do_update(index_elements=["provider", "scope"], set_=values)
        )


def _folds(message: Message) -> bool:
    """Thread replies fold into a digest; cards and top-level posts do not."""
    return message.kind == "thread"


def _key(announcement: Announcement, verdict: Verdict) -> str:
    follow = verdict.follow
    say = announcement.say
    if say is Say.CARD:
        return Keys.card(follow.id, f"v{follow.version}")
    if say is Say.SUMMARY:
        return Keys.summary(follow.id, verdict.status or "")
    if say is Say.CHART:
        return Keys.chart(follow.id, verdict.status or "")
    if say is Say.DELETED:
        return Keys.deleted(follow.id)
    if say is Say.DEAD:
        return Keys.alert("dead", follow.id, verdict.status_since or follow.created_at)
    if say is Say.PENDING:
        return Keys.alert("pending", follow.id, verdict.status_since or follow.created_at)
    return Keys.transition(follow.id, follow.version)


def _since(subscription: Subscription) -> datetime:
    return aware(subscription.created_at) - CLOCK_SKEW


def _view(follow_id: int, sub: Subscription, run: Run, now: datetime) -> FollowView:
    return FollowView(
        id=follow_id,
        run_id=run.id,
        version=1,
        channel=sub.channel,
        origin="alerts" if sub.only else "subscription",
        started_by=None,
        announced_status=run.status,
        status_since=run.modified_at or now,
        pending_alerted=False,
        delete_when_stopped_by=None,
        created_at=now,
        only=alert_filter(sub.only) if sub.only else None,
    )
