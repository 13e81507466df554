"""Cost of a poll cycle over 100 resource groups with 100,000 finished and 1,000 active runs.

Run by hand from the project root (about 2 minutes; prints one table, asserts nothing)::

    .venv/bin/python bench/poll_scale.py

Set-up
    The AI Core simulator (``bench/fakes.py``, a child process of its own, so that the CPU and
    memory measured here are the bot's alone) holds 100 resource groups, each with 1,000
    COMPLETED runs and 10 active ones (8 RUNNING, 2 PENDING, pinned: nothing moves). The bot's
    real poller (``bot.poll.Poller``) runs in this process on a temporary SQLite database in
    which every active run is followed by its group's channel and every group is subscribed
    (so that each cycle also counts the group's runs, to notice runs that came and went).

What it measures, per cycle
    AI Core calls and response bytes (counted by the simulator's process), wall time, CPU time
    of this process, and its peak resident memory during the cycle. The first cycle (token,
    connections, and a first sweep of each subscribed group) is shown apart from the steady
    ones (median of five).

Baseline, in the same run
    what a cycle cost before: one listing of every run of each group (all 101,000 records,
    8 groups at a time) through the bot's own AI Core client; the listing only, so a lower
    bound for that design.

Targets (printed beside the figures, never asserted): a steady cycle under 1 s and peak
memory under 200 MB. Compare runs on the same machine only.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import Fakes, machine, reset_rss_peak, rss_peak_mb, table
from sqlalchemy import insert

from bot.app import Components, build
from bot.poll.poller import Poller, PollerConfig
from bot.store.tables import Follow, Subscription
from tests.conftest import bot_settings

GROUPS = [f"rg-{n:03d}" for n in range(100)]
FINISHED = 1_000
ACTIVE = 10
STEADY_CYCLES = 5
TARGET_CYCLE_S = 1.0
TARGET_RSS_MB = 200.0
BASELINE_CONCURRENCY = 8
MB = 1024 * 1024


@dataclass
class Cost:
    label: str
    calls: int
    kb: float
    wall_s: float
    cpu_s: float
    rss_mb: float


async def seed(components: Components, active: dict[str, list[list[str]]]) -> None:
    """Each active run followed by its group's channel, told its status already.

    The subscriptions are dated two minutes after the history (which the simulator has just
    written): a subscription's sweep looks for runs created since it was made, less a minute
    for clock skew, and finds none, as for a real subscription made after months of runs.
    """
    now = datetime.now(UTC)
    created = now
    subscribed = now + timedelta(minutes=2)
    follows = [
        {
            "provider": "aicore",
            "scope": group,
            "run_id": run_id,
            "channel": f"C{group.upper()}",
            "card_ts": f"1600000000.{n:06d}",
            "started_by": None,
            "origin": "watch",
            "announced_status": status,
            "status_since": now,
            "pending_alerted": False,
            "delete_when_stopped_by": None,
            "snapshot": {},
            "finished": False,
            "version": 1,
            "created_at": created,
            "updated_at": created,
        }
        for n, (group, run_id, status) in enumerate(
            (g, r, st) for g, runs in active.items() for r, st in runs
        )
    ]
    subscriptions = [
        {"provider": "aicore", "scope": g, "channel": f"C{g.upper()}", "created_at": subscribed}
        for g in GROUPS
    ]

    def write(session: Any) -> None:
        session.execute(insert(Follow), follows)
        session.execute(insert(Subscription), subscriptions)

    await components.db.write(write)


async def measured(fakes: Fakes, label: str, work: Any) -> Cost:
    fakes.get("requests")  # forget what came before
    reset_rss_peak()
    cpu, wall = time.process_time(), time.perf_counter()
    await work()
    wall_s, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    rss = rss_peak_mb()
    taken = fakes.get("requests")
    return Cost(
        label, sum(taken["calls"].values()), sum(taken["bytes"].values()) / 1024, wall_s, cpu_s, rss
    )


async def run(fakes: Fakes, database: Path) -> list[Cost]:
    settings = bot_settings(
        slack_url="http://127.0.0.1:9",  # no Slack call is made by a cycle
        aicore_url=fakes.sim_url,
        database_url=f"sqlite:///{database}",
    )
    components = await build(settings)
    try:
        active = fakes.post("seed", {"groups": GROUPS, "finished": FINISHED, "active": ACTIVE})
        await seed(components, active["active"])
        await components.registry.beat(3600, {})
        poller = Poller(
            providers=components.providers,
            db=components.db,
            leases=components.leases,
            registry=components.registry,
            config=PollerConfig(interval_seconds=30, pending_alert_seconds=86400),
        )
        costs = [await measured(fakes, "bot poller, first cycle", poller.cycle)]
        steady = [await measured(fakes, "steady", poller.cycle) for _ in range(STEADY_CYCLES)]
        costs.append(median(steady, "bot poller, steady cycle (median of 5)"))
        client = components.providers["aicore"].client  # type: ignore[attr-defined]
        gate = asyncio.Semaphore(BASELINE_CONCURRENCY)

        async def list_everything() -> None:
            async def one(group: str) -> None:
                async with gate:
                    await client.list_executions(group)

            await asyncio.gather(*(one(g) for g in GROUPS))

        costs.append(await measured(fakes, "baseline: list every run", list_everything))
        return costs
    finally:
        await components.aclose()


def median(costs: list[Cost], label: str) -> Cost:
    def m(name: str) -> float:
        return float(statistics.median(getattr(c, name) for c in costs))

    return Cost(
        label, int(m("calls")), m("kb"), m("wall_s"), m("cpu_s"), max(c.rss_mb for c in costs)
    )


def main() -> None:
    header = machine()
    fakes = Fakes()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            costs = asyncio.run(run(fakes, Path(tmp) / "chatops.db"))
    finally:
        fakes.close()
    print(
        f"Poll cycle over {len(GROUPS)} resource groups, {len(GROUPS) * FINISHED:,} finished and "
        f"{len(GROUPS) * ACTIVE:,} active runs; {header}\n",
    )
    rows = [
        [c.label, c.calls, f"{c.kb:,.0f}", f"{c.wall_s:.2f}", f"{c.cpu_s:.2f}", f"{c.rss_mb:.0f}"]
        for c in costs
    ]
    print(table(["", "AI Core calls", "KB read", "wall s", "CPU s", "peak RSS MB"], rows))
    steady = costs[1]
    print(
        f"\nTargets: steady cycle {steady.wall_s:.2f} s (< {TARGET_CYCLE_S:.0f} s: "
        f"{'met' if steady.wall_s < TARGET_CYCLE_S else 'MISSED'}), peak RSS "
        f"{max(c.rss_mb for c in costs[:2]):.0f} MB (< {TARGET_RSS_MB:.0f} MB: "
        f"{'met' if max(c.rss_mb for c in costs[:2]) < TARGET_RSS_MB else 'MISSED'})",
        file=sys.stdout,
    )


if __name__ == "__main__":
    main()
