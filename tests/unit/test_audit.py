"""The audit trail: appended once per step, read back newest first, pruned by age, and on
PostgreSQL not rewritable."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.audit import Actor, Audit, Entry, Result
from bot.blocks import audit_blocks
from bot.store.db import Database
from tests.support.properties import validate_blocks


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def entry(target: str, result: Result = Result.DONE, **fields: str) -> Entry:
    return Entry(
        user=fields.get("user", "U0ALICE"),
        action=fields.get("action", "stop"),
        provider="aicore",
        scope=fields.get("scope", "default"),
        result=result,
        target=target,
        channel="C0ML",
        request_id=fields.get("request_id"),
    )


async def test_entries_are_kept_once_per_step_and_read_newest_first(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(database_url)
    await db.migrate()
    clock = Clock()
    audit = Audit(db, clock=clock)
    try:
        with caplog.at_level(logging.INFO, logger="bot.audit"):
            await audit.record(entry("run-1"), key="job1:stop:run-1:done")
            await audit.record(entry("run-1"), key="job1:stop:run-1:done")  # a job run again
            clock.now += timedelta(minutes=1)
            await audit.record(
                entry("run-1", Result.FAILED, action="delete", request_id="req-42"), key="job2"
            )
            await audit.record(entry("run-2", Result.REFUSED_POLICY, user="U0CAROL"))
            await audit.record(entry("run-3", scope="prod-eu"))
        shown = await audit.latest(scope="default", target="run-1")
        assert [(s.entry.action, s.entry.result) for s in shown] == [
            ("delete", Result.FAILED),
            ("stop", Result.DONE),
        ]
        assert shown[0].entry.request_id == "req-42" and shown[0].at.tzinfo is not None
        assert [s.entry.target for s in await audit.latest(scope="default")] == [
            "run-2",
            "run-1",
            "run-1",
        ]
        lines = [r.getMessage() for r in caplog.records if r.name == "bot.audit"]
        assert len(lines) == 4 and all(line.startswith("audit {") for line in lines)
        assert '"result": "refused_policy"' in lines[2]

        answer = audit_blocks(shown, scope="default", target="run-1")
        validate_blocks(answer)
        assert "requestId `req-42`" in str(answer) and "<@U0ALICE>" in str(answer)

        clock.now += timedelta(days=365)
        assert await audit.prune(365) == 1  # the first, a year and a minute old
        assert len(await audit.latest(scope="default")) == 2
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_on_postgresql_the_trail_cannot_be_rewritten(postgres_database_url: str) -> None:
    db = Database(postgres_database_url)
    await db.migrate()
    try:
        await Audit(db).record(entry("run-1"))
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.engine.begin() as connection:
                await connection.execute(text("UPDATE audit SET result = 'done'"))
    finally:
        await db.dispose()


async def test_a_resumed_job_keeps_its_first_outcome_and_a_failure_before_a_success(
    database_url: str,
) -> None:
    db = Database(database_url)
    await db.migrate()
    audit = Audit(db)
    job = Actor(user="U0ALICE", channel="C0ML", cause="job7")
    try:
        # The stop went through; the job ran again after a crash and found the run stopping.
        await audit.note(job, "stop", "aicore", "default", Result.DONE, target="run-1")
        await audit.note(job, "stop", "aicore", "default", Result.REFUSED_STATUS, target="run-1")
        # A delete failed (AI Core down), the job ran again, and it went through.
        await audit.note(job, "delete", "aicore", "default", Result.FAILED, target="run-2")
        await audit.note(job, "delete", "aicore", "default", Result.DONE, target="run-2")
        results = {(s.entry.target, s.entry.result) for s in await audit.latest(scope="default")}
        assert results == {
            ("run-1", Result.DONE),
            ("run-2", Result.FAILED),
            ("run-2", Result.DONE),
        }
    finally:
        await db.dispose()
