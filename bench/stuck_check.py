"""Cost of the stuck-run check at 1,000 RUNNING runs, beside the poll cycle it runs next to.

Run by hand from the project root (about a minute; prints one table, asserts nothing)::

    .venv/bin/python bench/stuck_check.py

Set-up
    The AI Core simulator (``bench/fakes.py``, a child process of its own) holds 125 resource
    groups with 10 active runs each, pinned: 1,000 RUNNING and 250 PENDING. Every active run
    is followed by its group's channel in a temporary SQLite database, with the snapshot the
    poller would have stored. The bot's real check (``bot.poll.silence.SilenceCheck``, with
    the default ``STUCK_ALERT_SECONDS`` of 1,800 s, so one check every 300 s) and its real
    poller run in this process.

What it measures
    AI Core calls, wall time and CPU time of one check (median of three), and the same for a
    steady poll cycle over the same runs (median of three), which runs every 30 s by default.
    From those: calls per second on average, over a check's interval and a poll's.

Baseline, in the same run
    the same check run at every poll instead of every 300 s (what "one logs call per RUNNING
    run per poll" would cost): the check's calls spread over the poll interval.

Target (printed beside the figures, never asserted): one newest-line call per RUNNING run per
check, and a check every few minutes, so that on average it adds a small share of the poll's
own calls. Compare runs on the same machine only.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import Fakes, machine, table
from sqlalchemy import insert

from bot.app import Components, build
from bot.poll.poller import Poller, PollerConfig
from bot.poll.silence import SilenceCheck, check_interval
from bot.store.tables import Follow
from tests.conftest import bot_settings

GROUPS = [f"rg-{n:03d}" for n in range(125)]
ACTIVE = 10  # per group: 8 RUNNING, 2 PENDING (bench/fakes.py)
STUCK_SECONDS = 1800.0  # the default STUCK_ALERT_SECONDS
POLL_SECONDS = 30.0  # the default POLL_INTERVAL_SECONDS
REPEATS = 3


@dataclass
class Cost:
    label: str
    calls: int
    wall_s: float
    cpu_s: float


async def seed(components: Components) -> int:
    """Each active run followed, with the snapshot the poller stores; returns RUNNING runs."""
    client = components.providers["aicore"].client  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    follows: list[dict[str, Any]] = []
    for group in GROUPS:
        for execution in await client.list_executions(group):
            if execution.status not in ("RUNNING", "PENDING"):
                continue
            follows.append(
                {
                    "provider": "aicore",
                    "scope": group,
                    "run_id": execution.id,
                    "channel": f"C{group.upper()}",
                    "card_ts": f"1600000000.{len(follows):06d}",
                    "origin": "watch",
                    "announced_status": execution.status,
                    "status_since": now,
                    "pending_alerted": False,
                    "snapshot": execution.model_dump(mode="json", by_alias=True),
                    "finished": False,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    await components.db.write(lambda session: session.execute(insert(Follow), follows))
    return sum(1 for f in follows if f["announced_status"] == "RUNNING")


async def measured(fakes: Fakes, label: str, work: Callable[[], Awaitable[Any]]) -> Cost:
    costs = []
    for _ in range(REPEATS):
        fakes.get("requests")  # forget what came before
        cpu, wall = time.process_time(), time.perf_counter()
        await work()
        wall_s, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
        costs.append((sum(fakes.get("requests")["calls"].values()), wall_s, cpu_s))
    calls, wall_s, cpu_s = (statistics.median(c[i] for c in costs) for i in range(3))
    return Cost(label, int(calls), wall_s, cpu_s)


async def run(fakes: Fakes, database: Path) -> tuple[int, list[Cost]]:
    settings = bot_settings(
        slack_url="http://127.0.0.1:9",  # neither the check nor a quiet cycle calls Slack
        aicore_url=fakes.sim_url,
        database_url=f"sqlite:///{database}",
    )
    components = await build(settings)
    try:
        fakes.post("seed", {"groups": GROUPS, "finished": 0, "active": ACTIVE})
        running = await seed(components)
        await components.registry.beat(3600, {})
        check = SilenceCheck(
            db=components.db,
            providers=components.providers,
            leases=components.leases,
            stuck_seconds=STUCK_SECONDS,
        )

        async def one_check() -> None:
            if check.lease is not None:
                await components.leases.release(check.lease)  # the next check is due
            report = await check.check()
            assert report is not None and report.checked == running, report

        poller = Poller(
            providers=components.providers,
            db=components.db,
            leases=components.leases,
            registry=components.registry,
            config=PollerConfig(interval_seconds=POLL_SECONDS, pending_alert_seconds=86400),
        )
        await poller.cycle()  # the first cycle (token, connections) is not the steady one
        costs = [
            await measured(fakes, "stuck check", one_check),
            await measured(fakes, "poll cycle (steady)", poller.cycle),
        ]
        return running, costs
    finally:
        await components.aclose()


def main() -> None:
    header = machine()
    fakes = Fakes()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            running, (check, poll) = asyncio.run(run(fakes, Path(tmp) / "chatops.db"))
    finally:
        fakes.close()
    interval = check_interval(STUCK_SECONDS)
    print(f"Stuck check over {running:,} RUNNING runs in {len(GROUPS)} groups; {header}\n")
    rows = [
        [
            check.label,
            check.calls,
            f"{check.wall_s:.2f}",
            f"{check.cpu_s:.2f}",
            f"every {interval:.0f} s",
            f"{check.calls / interval:.2f}",
        ],
        [
            poll.label,
            poll.calls,
            f"{poll.wall_s:.2f}",
            f"{poll.cpu_s:.2f}",
            f"every {POLL_SECONDS:.0f} s",
            f"{poll.calls / POLL_SECONDS:.2f}",
        ],
        [
            "baseline: the check at every poll",
            check.calls,
            f"{check.wall_s:.2f}",
            f"{check.cpu_s:.2f}",
            f"every {POLL_SECONDS:.0f} s",
            f"{check.calls / POLL_SECONDS:.2f}",
        ],
    ]
    print(table(["", "AI Core calls", "wall s", "CPU s", "how often", "calls/s on average"], rows))
    per_run = check.calls / running
    print(
        f"\nTargets: one call per RUNNING run per check ({per_run:.2f}: "
        f"{'met' if per_run <= 1.0 else 'MISSED'}); a check every few minutes ({interval:.0f} s); "
        f"on average {check.calls / interval:.2f} calls/s, "
        f"{check.calls / interval / (poll.calls / POLL_SECONDS):.1f}x the poll's own "
        f"{poll.calls / POLL_SECONDS:.2f} (the baseline: {check.calls / POLL_SECONDS:.1f} calls/s)"
    )


if __name__ == "__main__":
    main()
