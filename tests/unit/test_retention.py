"""What the bot forgets, and when: delivered and set-aside messages, finished jobs; and the IDs
of jobs and messages, which are never handed out twice, however empty pruning leaves a table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, insert, select, update

from bot.delivery import Delivery
from bot.jobs import JobQueue, NewJob
from bot.leases import Leases
from bot.outbox import Reply, row
from bot.store.db import Database
from bot.store.tables import AuditEntry, Follow, Job, OutboxMessage


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def delivery_on(db: Database, clock: Clock) -> Delivery:
    return Delivery(
        db=db, slack=AsyncWebClient(token="xoxb-unused"), leases=Leases(db, "p1"), clock=clock
    )


async def queue(db: Database, key: str, **fields: object) -> int:
    values = row(channel="C1", follow_id=None, message=Reply(text=key), key=key, now=Clock()())
    async with db.session() as session, session.begin():
        result = await session.execute(
            insert(OutboxMessage).values({**values, **fields}).returning(OutboxMessage.id)
        )
        return int(result.scalar_one())


async def follow(db: Database, run_id: str, *, finished: bool) -> int:
    now = Clock()()
    values = {
        "provider": "aicore",
        "scope": "default",
        "run_id": run_id,
        "channel": "C1",
        "origin": "start",
        "snapshot": {},
        "finished": finished,
        "version": 1,
        "pending_alerted": False,
        "created_at": now,
        "updated_at": now,
    }
    async with db.session() as session, session.begin():
        result = await session.execute(insert(Follow).values(values).returning(Follow.id))
        return int(result.scalar_one())


async def outbox_keys(db: Database) -> set[str]:
    async with db.read() as session:
        return set(await session.scalars(select(OutboxMessage.dedupe_key)))


async def test_delivered_messages_go_after_a_week_and_set_aside_ones_after_a_month(
    database_url: str,
) -> None:
    db = Database(database_url)
    await db.migrate()
    clock = Clock()
    days = lambda n: clock.now - timedelta(days=n)  # noqa: E731
    try:
        await queue(db, "delivered-8-days-ago", delivered_at=days(8), sent_ts="1.1")
        await queue(db, "delivered-yesterday", delivered_at=days(1), sent_ts="1.2")
        await queue(db, "set-aside-31-days-ago", failed_at=days(31), last_error="bad row")
        await queue(db, "set-aside-8-days-ago", failed_at=days(8), last_error="bad row")
        await queue(
            db, "pending-for-40-days", created_at=days(40)
        )  # never delivered: never forgotten
        await queue(db, "in-flight", in_flight_at=0.0, in_flight_by="p0")

        assert await delivery_on(db, clock).prune() == 2
        assert await outbox_keys(db) == {
            "delivered-yesterday",
            "set-aside-8-days-ago",
            "pending-for-40-days",
            "in-flight",
        }
    finally:
        await db.dispose()


async def test_a_watched_runs_messages_stay_however_old_and_go_in_batches(
    database_url: str,
) -> None:
    db = Database(database_url)
    await db.migrate()
    clock = Clock()
    long_ago = clock.now - timedelta(days=40)
    try:
        # The stuck-run check offers its alert again at every check, for as long as the run
        # is silent: its key, delivered long ago, is what keeps it from being told twice.
        hung = await follow(db, "run-hung", finished=False)
        done = await follow(db, "run-done", finished=True)
        await queue(db, f"alert:silent:{hung}:t0", follow_id=hung, delivered_at=long_ago)
        await queue(db, f"alert:silent:{done}:t0", follow_id=done, delivered_at=long_ago)
        for n in range(5):
            await queue(db, f"digest-{n}", delivered_at=long_ago)

        assert await delivery_on(db, clock).prune(batch=2) == 6
        assert await outbox_keys(db) == {f"alert:silent:{hung}:t0"}
    finally:
        await db.dispose()


async def test_ids_are_not_handed_out_again_once_pruning_empties_a_table(
    database_url: str,
) -> None:
    db = Database(database_url)
    await db.migrate()
    clock = Clock()
    jobs = JobQueue(db, "p1")
    try:
        # A job's ID names it in audit keys and at the end of a derived configuration's name;
        # a message's ID is in the metadata of the Slack message it became.
        for n in range(2):
            await jobs.enqueue(NewJob(kind="command", payload={"n": n}))
            await queue(db, f"message-{n}", delivered_at=clock.now, sent_ts=f"1.{n}")
        async with db.session() as session, session.begin():
            await session.execute(update(Job).values(state="done", finished_at=0.0))

        clock.now += timedelta(days=8)  # a quiet week: everything is pruned
        assert await jobs.prune() == 2
        assert await delivery_on(db, clock).prune() == 2

        await jobs.enqueue(NewJob(kind="command", payload={"n": 2}))
        message_id = await queue(db, "message-2")
        async with db.read() as session:
            job_id = (await session.execute(select(func.max(Job.id)))).scalar_one()
        assert (job_id, message_id) == (3, 3)
    finally:
        await db.dispose()


async def test_a_database_from_before_keeps_its_rows_and_ids_when_migrated(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'chatops.db'}")
    await db.migrate_to("0004")
    clock = Clock()
    try:
        async with db.session() as session, session.begin():
            await session.execute(
                insert(Job).values(
                    id=41,
                    kind="command",
                    payload={},
                    priority=1,
                    state="done",
                    attempts=1,
                    not_before=0.0,
                    token=1,
                    progress={},
                    created_at=0.0,
                    finished_at=0.0,
                )
            )
        await queue(db, "old-message", delivered_at=clock.now, sent_ts="1.1")
        await db.migrate()
        async with db.read() as session:
            assert list(await session.scalars(select(Job.id))) == [41]
        assert await outbox_keys(db) == {"old-message"}

        clock.now += timedelta(days=8)
        assert await JobQueue(db, "p1").prune() == 1
        assert await delivery_on(db, clock).prune() == 1
        await JobQueue(db, "p1").enqueue(NewJob(kind="command", payload={}))
        async with db.read() as session:
            assert list(await session.scalars(select(Job.id))) == [42]
        assert await queue(db, "new-message") == 2
    finally:
        await db.dispose()


async def test_jobs_pruned_empty_before_the_migration_start_above_the_jobs_still_named(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'chatops.db'}")
    await db.migrate_to("0004")
    try:
        # A quiet week pruned every job; the audit trail and the outbox still name jobs 57
        # and 61, and a new job 57 would have its audit entries dropped as repeats.
        async with db.session() as session, session.begin():
            await session.execute(
                insert(AuditEntry).values(
                    at=Clock()(),
                    user_id="U0ALICE",
                    action="stop",
                    provider="aicore",
                    scope="default",
                    result="done",
                    dedupe_key="job57:stop:aicore:default:run-1:done",
                )
            )
        await queue(db, "rerun:3:61", delivered_at=Clock()())
        await queue(db, "card_post:4:job59", delivered_at=Clock()())
        await db.migrate()
        await JobQueue(db, "p1").enqueue(NewJob(kind="command", payload={}))
        async with db.read() as session:
            assert list(await session.scalars(select(Job.id))) == [62]
    finally:
        await db.dispose()
