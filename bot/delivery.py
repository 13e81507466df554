"""Delivery: the outbox to Slack, each message once, in order, one post per second per channel.

Each channel's outbox is shared work with a lease of its own (``outbox:<channel>``): whichever
process holds it sends that channel's messages, in the order they were written, so several
workers never both send one, and per-channel order survives any number of them. Pacing lives
in the lease too: the holder records, on the database clock, when the channel may next be
posted to, and the next holder (this process or another) honours it.

For each message:

1. Read it (:func:`bot.outbox.read`). A row that cannot be read, or whose sending raises
   anything unforeseen, is set aside (``failed_at``, the reason kept) and the channel goes on.
2. Posts are marked *in flight* first (fenced by the lease). A row found in flight was begun
   by an attempt whose fate is unknown; once that attempt cannot be running any more
   (``IN_FLIGHT_GRACE_SECONDS``), the channel's history is searched for the row's metadata
   stamp, and a message Slack already has is recorded, never posted again.
3. Slack's answer (see :mod:`bot.sending`): sent (marked delivered; a card's ts is kept),
   dropped for good (kept with the reason; the person who started a run hears that its card
   could not be posted), or later (``Retry-After``, or a growing backoff).

A channel's messages go strictly in the order they were written: one that must wait holds
back the rest of its channel. So a reply is never sent before its card, nor an update before
the post it updates.

Several pending redraws of one card are coalesced: only the newest is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Executable, delete, func, or_, select, update
from sqlalchemy.orm import Session

from bot import metrics, outbox, sending
from bot.leases import Lease, LeaseLost, Leases
from bot.sending import Fate, Result
from bot.store.db import Database
from bot.store.dbclock import db_now
from bot.store.repo import utcnow
from bot.store.tables import Follow, OutboxMessage
from bot.supervise import Health, Wakeup, supervised

log = logging.getLogger(__name__)

LEASE_PREFIX = "outbox:"
LEASE_SECONDS = 60.0
# Longer than one Slack call can last (delivery's client times out after
# bot.app.DELIVERY_SLACK_TIMEOUT_SECONDS): an attempt begun this long ago by an earlier holder
# of the channel has ended, whether or not its process is alive.
IN_FLIGHT_GRACE_SECONDS = 12.0
BATCH = 100
CHANNEL_CONCURRENCY = 64
MAX_BACKOFF_SECONDS = 300.0
MAX_ATTEMPTS = 20
IDLE_POLL_SECONDS = 0.2
# Delivered rows are kept this long (a week: far past any redelivery or in-flight search) and
# set-aside ones longer, for someone to read why; then they are pruned.
KEEP_DELIVERED = timedelta(days=7)
KEEP_SET_ASIDE = timedelta(days=30)
PRUNE_BATCH = 500


class Delivery:
    def __init__(
        self,
        *,
        db: Database,
        slack: AsyncWebClient,
        leases: Leases,
        health: Health | None = None,
        post_interval: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
        concurrency: int = CHANNEL_CONCURRENCY,
    ) -> None:
        self.db = db
        self.slack = slack
        self.leases = leases
        self.health = health or Health()
        self.post_interval = post_interval
        self.clock = clock
        self.concurrency = concurrency
        self.wakeup = Wakeup()
        self._channels: dict[str, asyncio.Task[int]] = {}
        self._stopping = False

    def wake(self) -> None:
        self.wakeup.set()

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await supervised("delivery", self._pass, health=self.health, stop=stop, wakeup=self.wakeup)

    async def _pass(self) -> float:
        await self._start_channels()
        await self._gauge()
        return IDLE_POLL_SECONDS

    async def _start_channels(self) -> list[asyncio.Task[int]]:
        if self._stopping:
            return []
        busy = await self.leases.holders(LEASE_PREFIX)
        started = []
        for channel in await self._due_channels():
            if len(self._channels) >= self.concurrency:
                break
            if channel in self._channels or f"{LEASE_PREFIX}{channel}" in busy:
                continue
            task = asyncio.create_task(self._channel(channel), name=f"deliver-{channel}")
            self._channels[channel] = task
            task.add_done_callback(functools.partial(self._channel_done, channel))
            started.append(task)
        return started

    def _channel_done(self, channel: str, _task: asyncio.Task[int]) -> None:
        self._channels.pop(channel, None)
        self.wakeup.set()

    async def drain(self) -> int:
        """Send everything that is due now, waiting for it (tests, tools)."""
        sent = 0
        while True:
            tasks = await self._start_channels()
            running = list(self._channels.values())
            if not tasks and not running:
                return sent
            for result in await asyncio.gather(*running, return_exceptions=True):
                if isinstance(result, int):
                    sent += result
            if not tasks:
                return sent

    async def prune(
        self,
        *,
        delivered: timedelta = KEEP_DELIVERED,
        set_aside: timedelta = KEEP_SET_ASIDE,
        batch: int = PRUNE_BATCH,
    ) -> int:
        """Forget messages delivered (or set aside) long enough ago; returns how many.

        Without this the table grows for ever, a chart's PNG in each of its rows. A follow
        still watched keeps all its rows: the stuck-run check, for one, asks the outbox
        whether a silence was told already, every few minutes for as long as the run runs.
        A finished follow's keys name steps of its history (its version, the status it
        reached) that its own state never goes back to. Rows go in batches, so that no
        transaction holds the database's write lock for long.
        """
        now = self.clock()
        watched = select(Follow.id).where(Follow.finished.is_(False))
        forgettable = or_(
            OutboxMessage.follow_id.is_(None), OutboxMessage.follow_id.not_in(watched)
        )
        total = 0
        for old in (
            OutboxMessage.delivered_at < now - delivered,
            OutboxMessage.failed_at < now - set_aside,
        ):
            chosen = select(OutboxMessage.id).where(old, forgettable).limit(batch)
            statement = delete(OutboxMessage).where(OutboxMessage.id.in_(chosen.scalar_subquery()))
            while True:
                result = await self.db.write(functools.partial(_execute, statement))
                count = int(getattr(result, "rowcount", 0) or 0)
                total += count
                if count < batch:
                    break
        return total

    async def shutdown(self, grace: float) -> None:
        """Finish the message being sent in each channel, then stop (within ``grace``)."""
        self._stopping = True
        tasks = list(self._channels.values())
        if not tasks:
            return
        _done, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _due_channels(self) -> list[str]:
        """Channels whose first waiting message is due (the rest of a channel waits for it)."""
        firsts = (
            select(func.min(OutboxMessage.id)).where(*_pending()).group_by(OutboxMessage.channel)
        )
        async with self.db.read() as session:
            rows = await session.execute(
                select(OutboxMessage.channel)
                .where(OutboxMessage.id.in_(firsts.scalar_subquery()))
                .where(OutboxMessage.due_at <= db_now())
                .order_by(OutboxMessage.id)
                .limit(500)
            )
            return [channel for (channel,) in rows]

    async def _gauge(self) -> None:
        async with self.db.read() as session:
            backlog = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(*_pending())
            )
        metrics.OUTBOX_BACKLOG.set(backlog or 0)

    # -- one channel -------------------------------------------------------------------------

    async def _channel(self, channel: str) -> int:
        lease = await self.leases.acquire(f"{LEASE_PREFIX}{channel}", LEASE_SECONDS)
        if lease is None:
            return 0
        sender = _ChannelSender(self, channel, lease)
        try:
            return await sender.run()
        except LeaseLost:
            log.warning("lost the outbox lease of %s; another worker goes on", channel)
            return sender.sent
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.leases.release(sender.lease))


class _ChannelSender:
    """Sends one channel's due messages in order while its lease is held."""

    def __init__(self, delivery: Delivery, channel: str, lease: Lease) -> None:
        self.delivery = delivery
        self.db = delivery.db
        self.channel = channel
        self.lease = lease
        self.sent = 0
        self.next_post_at = float(lease.value.get("next_post_at") or 0.0)
        self._pacing_to_store = False
        self.clock_offset = 0.0  # database clock minus ours, to pace without asking it

    async def run(self) -> int:
        async with self.db.read() as session:
            self.clock_offset = float(await session.scalar(select(db_now())) or 0) - time.time()
        while not self.delivery._stopping:
            rows, follows = await self._waiting()
            if not rows:
                break
            for message_row in rows:
                if self.delivery._stopping:
                    break
                if message_row.due_at > self._db_now() or not await self._one(message_row, follows):
                    return self.sent  # it must wait: so do the messages behind it
        return self.sent

    def _db_now(self) -> float:
        return time.time() + self.clock_offset

    async def _waiting(self) -> tuple[list[OutboxMessage], dict[int, Follow]]:
        """The channel's next messages, due or not, in order; and their follows.

        Reading needs no fence: every write about a row is fenced on its own.
        """
        async with self.db.read() as session:
            rows = list(
                await session.scalars(
                    select(OutboxMessage)
                    .where(*_pending(), OutboxMessage.channel == self.channel)
                    .order_by(OutboxMessage.id)
                    .limit(BATCH)
                )
            )
            ids = {r.follow_id for r in rows if r.follow_id is not None}
            follows = (
                {f.id: f for f in await session.scalars(select(Follow).where(Follow.id.in_(ids)))}
                if ids
                else {}
            )
        return await self._coalesce_cards(rows), follows

    async def _coalesce_cards(self, rows: list[OutboxMessage]) -> list[OutboxMessage]:
        """Several pending redraws of one card: only the newest is sent."""
        newest: dict[int | None, OutboxMessage] = {}
        for message_row in rows:
            if message_row.kind == "card":
                newest[message_row.follow_id] = message_row
        superseded = [r.id for r in rows if r.kind == "card" and newest[r.follow_id] is not r]
        if superseded:
            await self._fenced(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(superseded))
                .values(delivered_at=self.delivery.clock(), last_error="superseded")
            )
        dropped = set(superseded)
        return [r for r in rows if r.id not in dropped]

    # -- one message -------------------------------------------------------------------------

    async def _one(self, row: OutboxMessage, follows: dict[int, Follow]) -> bool:
        """Handle one row; False when the channel must wait before its next message."""
        follow = follows.get(row.follow_id) if row.follow_id is not None else None
        try:
            message = outbox.read(row)
        except ValidationError as exc:
            await self._set_aside(row, f"unreadable message: {exc.error_count()} error(s)")
            return True
        if follow is None and row.follow_id is not None:
            await self._set_aside(row, f"follow {row.follow_id} no longer exists")
            return True
        try:
            return await self._deliver(row, message, follow)
        except LeaseLost:
            raise
        except Exception as exc:  # one bad row must not stop the channel
            log.exception("outbox %d for %s failed; setting it aside", row.id, self.channel)
            await self._set_aside(row, f"{type(exc).__name__}: {exc}")
            return True

    async def _deliver(
        self, row: OutboxMessage, message: outbox.Message, follow: Follow | None
    ) -> bool:
        if sending.is_post(message):
            if row.in_flight_at is not None:
                settled = await self._settle_unknown(row, follow)
                if settled is not None:
                    return settled
            await self._pace()
            await self._mark_in_flight(row)
        result = await sending.send(self.delivery.slack, row, message, follow)
        if sending.is_post(message):
            # From the answer, not the send: the next post then arrives a second after this
            # one did, however long either spent on the way (Slack counts arrivals).
            self._paced_from(self._db_now())
        if result.fate is Fate.SENT:
            await self._delivered(row, result.ts, follow, message)
            return True
        metrics.DELIVERY_ERRORS.labels(result.error or result.fate).inc()
        if result.fate is Fate.DROPPED:
            await self._dropped(row, message, follow, result)
            return True
        await self._later(row, result)
        return False

    async def _settle_unknown(self, row: OutboxMessage, follow: Follow | None) -> bool | None:
        """A row an earlier attempt may have posted: True/False settle it, None means send."""
        assert row.in_flight_at is not None
        # Another process's attempt may still be talking to Slack (its process alive but
        # slow): let it end first. This process's own attempts have ended.
        theirs = row.in_flight_by != self.delivery.leases.holder
        wait = row.in_flight_at + IN_FLIGHT_GRACE_SECONDS - self._db_now()
        if theirs and wait > 0:
            # That attempt may still be talking to Slack (its process alive but slow).
            await self._later(row, Result(Fate.LATER, error="in flight", retry_after=wait))
            return False
        found = await sending.already_posted(
            self.delivery.slack, row, sending.thread_of(follow), outbox.read(row)
        )
        if isinstance(found, Result):
            if found.fate is Fate.LATER:
                await self._later(row, found)
                return False
            # Slack will not show the history (a missing scope): posting again risks a
            # duplicate, not posting risks a loss. We post.
            log.warning("cannot check %s's history (%s); sending again", row.channel, found.error)
            return None
        if found is not None:
            log.info("outbox %d was already posted (ts %s): not posting again", row.id, found)
            await self._delivered(row, found, follow, outbox.read(row))
            return True
        return None

    async def _pace(self) -> None:
        wait = self.next_post_at - self._db_now()
        if wait > 0:
            await asyncio.sleep(wait)
        # Should this process die during the post, whoever comes next waits as well.
        self._paced_from(self._db_now())

    def _paced_from(self, moment: float) -> None:
        self.next_post_at = moment + self.delivery.post_interval
        self._pacing_to_store = True

    # -- bookkeeping (every write fenced by the channel's lease) ----------------------------

    async def _mark_in_flight(self, row: OutboxMessage) -> None:
        await self._fenced(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id)
            .values(
                in_flight_at=db_now(),
                in_flight_by=self.delivery.leases.holder,
                attempts=OutboxMessage.attempts + 1,
            ),
        )
        row.in_flight_at = self._db_now()
        row.in_flight_by = self.delivery.leases.holder
        row.attempts += 1

    async def _delivered(
        self, row: OutboxMessage, ts: str | None, follow: Follow | None, message: outbox.Message
    ) -> None:
        statements: list[Executable] = [
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id)
            .values(delivered_at=self.delivery.clock(), sent_ts=ts, last_error=None)
        ]
        if row.kind == "card_post" and follow is not None and ts:
            # Not a new version: the version guards what the poller judged (the announced
            # status), which a posted card does not change. Bumping it voided every poll of the
            # scope that read the follow before the card went out.
            statements.append(update(Follow).where(Follow.id == follow.id).values(card_ts=ts))
        await self._fenced(*statements)
        if row.kind == "card_post" and follow is not None and ts:
            follow.card_ts = ts
        self.sent += 1
        metrics.DELIVERED.labels(row.kind).inc()

    async def _dropped(
        self, row: OutboxMessage, message: outbox.Message, follow: Follow | None, result: Result
    ) -> None:
        log.warning("dropping outbox %d for %s: Slack says %s", row.id, row.channel, result.error)
        statements: list[Executable] = [
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id)
            .values(delivered_at=self.delivery.clock(), last_error=f"dropped: {result.error}")
        ]
        if row.kind == "card_post" and follow is not None:
            # Nowhere to show it: stop following the run in this channel.
            statements.append(
                update(Follow)
                .where(Follow.id == follow.id)
                .values(finished=True, version=Follow.version + 1)
            )
        await self._fenced(*statements)
        notice = sending.failure_notice(message)
        if notice is not None:
            url, text = notice
            try:
                await AsyncRespond(response_url=url)(
                    text=text, response_type="ephemeral", replace_original=False
                )
            except Exception:  # the notice is best effort; the row is settled either way
                log.warning("could not tell %s that its card was refused", url, exc_info=True)

    async def _later(self, row: OutboxMessage, result: Result) -> None:
        attempts = row.attempts
        if attempts >= MAX_ATTEMPTS:
            await self._set_aside(row, f"gave up after {attempts} attempts: {result.error}")
            return
        wait = result.retry_after
        if wait is None:
            wait = min(MAX_BACKOFF_SECONDS, 2.0 ** min(attempts, 8))
        values: dict[str, Any] = {
            "due_at": db_now() + wait,
            "last_error": (result.error or "")[:500],
        }
        if result.fate is Fate.LATER and result.error != "in flight":
            # Slack refused before doing anything: not in flight.
            values.update(in_flight_at=None, in_flight_by=None)
        await self._fenced(update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values))

    async def _set_aside(self, row: OutboxMessage, why: str) -> None:
        metrics.DELIVERY_ERRORS.labels("set_aside").inc()
        await self._fenced(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id)
            .values(failed_at=self.delivery.clock(), last_error=why[:2000])
        )

    async def _fenced(
        self, *statements: Executable, lease_value: dict[str, Any] | None = None
    ) -> None:
        """Run ``statements`` in one transaction, if the channel's lease is still ours (the
        channel's pacing goes along, for the lease's next holder)."""
        leases = self.delivery.leases
        if self._pacing_to_store and lease_value is None:
            lease_value = {"next_post_at": self.next_post_at}
            self._pacing_to_store = False

        def write(session: Session) -> None:
            leases.fence(session, self.lease, LEASE_SECONDS)
            for statement in statements:
                session.execute(statement)
            if lease_value is not None:
                leases.set_value(session, self.lease, lease_value)

        await self.db.write(write)


def _execute(statement: Executable, session: Session) -> Any:
    return session.execute(statement)


def _pending() -> tuple[Any, ...]:
    return (OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None))
