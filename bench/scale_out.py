"""Transitions delivered per second with 1, 2 and 4 workers, and failover after a SIGKILL.

Run by hand from the project root (about 4 minutes; prints one table, asserts nothing)::

    .venv/bin/python bench/scale_out.py
    BENCH_DATABASE_URL=postgresql+psycopg://... .venv/bin/python bench/scale_out.py

What it measures
    50 resource groups, each followed by a channel of its own (``subscribe``). At once, 10
    runs start in every group (500 runs); each goes PENDING, then RUNNING 10 s later, then
    COMPLETED 20 s after that: 1,000 transitions to tell, in threads under 500 cards (a run
    that a subscription finds only after it moved on gets its card in the status it has, and
    fewer transitions: the table says how many were told). The fake
    Slack answers 429 to a second post within a second in one channel, as Slack does, so the
    ceiling is 50 posts a second, a third of them cards: about 33 transitions a second.

    throughput  transitions told per second between the 10th and 90th percentile of their
                arrival at the fake Slack, with one web process and 1, 2 or 4 ``--role
                worker`` processes; beside the pacing ceiling, measured in the same run
    failover    with 2 workers, one is SIGKILLed while messages are still going out: the
                time until each of its poll scopes is held by the other worker, and until
                each of its channels gets its next message

The simulator and the fake Slack run in a child process of their own (``bench/fakes.py``).
The database is a SQLite file unless ``BENCH_DATABASE_URL`` names another (PostgreSQL).
Compare runs on the same machine only.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from common import SIGNING_SECRET, Fakes, machine, percentile, table
from sqlalchemy import create_engine, text

from bot.delivery import IN_FLIGHT_GRACE_SECONDS
from bot.worker import HEARTBEAT_TTL_SECONDS
from tests.support.process import BotProcess, SignedSlackClient

GROUPS = [f"grp{n:02d}" for n in range(50)]
RUNS_PER_GROUP = 10
TRANSITIONS = len(GROUPS) * RUNS_PER_GROUP * 2
PACE_S = 1.0
POLL_INTERVAL_S = 1.0
WORKER_COUNTS = (1, 2, 4)
CEILING_PER_S = len(GROUPS) / PACE_S * 2 / 3  # two in three posts are transitions


def channel_of(group: str) -> str:
    return f"C{group.upper()}"


@dataclass
class Throughput:
    workers: int
    per_second: float
    told: int
    seconds: float
    refusals: int


@dataclass
class Failover:
    scopes_s: float
    channels_s: float
    scopes: int
    channels: int


@contextmanager
def deployment(fakes: Fakes, workers: int) -> Iterator[tuple[BotProcess, list[BotProcess], str]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{Path(tmp) / 'chatops.db'}"
        env = fakes.bot_env(url, POLL_INTERVAL_SECONDS=str(POLL_INTERVAL_S), PORT="0")
        web = BotProcess(env, args=("--role", "web")).start(timeout=60)
        crew = [
            BotProcess(env, args=("--role", "worker")).start(timeout=60) for _ in range(workers)
        ]
        try:
            yield web, crew, url
        finally:
            for process in [web, *crew]:
                process.stop()
            if os.environ.get("BENCH_DATABASE_URL"):
                reset(url)


def reset(url: str) -> None:
    """Empty the shared database between runs (PostgreSQL)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        for table_name in (
            "outbox",
            "follows",
            "subscriptions",
            "jobs",
            "leases",
            "processes",
            "poll_scopes",
            "pending_actions",
        ):
            connection.execute(text(f"DELETE FROM {table_name}"))
    engine.dispose()


def subscribe_all(fakes: Fakes, web: BotProcess) -> None:
    client = SignedSlackClient(web.url, SIGNING_SECRET, lambda: f"{fakes.slack_url}/response/0")
    try:
        for group in GROUPS:
            response, _ = client.command(f"subscribe rg={group}", channel=channel_of(group))
            assert response.status_code == 200
    finally:
        client.close()
    time.sleep(3)  # the subscriptions are recorded by a worker's jobs


def told(fakes: Fakes, since: int) -> list[dict[str, object]]:
    calls = fakes.get(f"slack?since={since}")["calls"]
    return [
        c
        for c in calls
        if c["method"] == "chat.postMessage" and not c["error"] and "is now" in str(c["text"])
    ]


def measure(
    fakes: Fakes, workers: int, *, kill_one: bool = False
) -> tuple[Throughput, Failover | None]:
    with deployment(fakes, workers) as (web, crew, url):
        subscribe_all(fakes, web)
        since = len(fakes.get("slack")["calls"])
        refusals_before = fakes.get("slack")["refusals"]
        fakes.post("start", {"groups": GROUPS, "per_group": RUNS_PER_GROUP})
        failover = None
        if kill_one:
            wait_for(lambda: len(told(fakes, since)) >= TRANSITIONS // 3, 300)
            failover = kill_and_watch(fakes, crew[0], url, since)
        wait_for(lambda: all_told(url), 600)
        arrivals = sorted(float(c["at"]) for c in told(fakes, since))  # type: ignore[arg-type]
        refusals = fakes.get("slack")["refusals"] - refusals_before
    first, last = percentile(arrivals, 10), percentile(arrivals, 90)
    rate = 0.8 * len(arrivals) / (last - first) if last > first else float("nan")
    return Throughput(workers, rate, len(arrivals), last - first, refusals), failover


def kill_and_watch(fakes: Fakes, victim: BotProcess, url: str, since: int) -> Failover:
    engine = create_engine(url)
    pid = victim.pid
    with engine.connect() as connection:
        held = (
            connection.execute(
                text("SELECT name FROM leases WHERE holder LIKE :p"), {"p": f"%:{pid}:%"}
            )
            .scalars()
            .all()
        )
    scopes = [n for n in held if n.startswith("poll:")]
    channels = [n.removeprefix("outbox:") for n in held if n.startswith("outbox:")]
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    scopes_moved = channels_resumed = float("nan")
    while time.monotonic() - killed < 120:
        with engine.connect() as connection:
            holders = dict(connection.execute(text("SELECT name, holder FROM leases")).all())
        if (
            scopes
            and scopes_moved != scopes_moved
            and all(holders.get(n) and f":{pid}:" not in str(holders[n]) for n in scopes)
        ):
            scopes_moved = time.monotonic() - killed
        after = [
            c
            for c in fakes.get(f"slack?since={since}")["calls"]
            if c["method"] == "chat.postMessage" and float(c["at"]) > killed
        ]
        resumed = {c["channel"] for c in after}
        if channels and channels_resumed != channels_resumed and set(channels) <= resumed:
            channels_resumed = (
                max(min(float(c["at"]) for c in after if c["channel"] == ch) for ch in channels)
                - killed
            )
        if (not scopes or scopes_moved == scopes_moved) and (
            not channels or channels_resumed == channels_resumed
        ):
            break
        time.sleep(0.05)
    engine.dispose()
    return Failover(scopes_moved, channels_resumed, len(scopes), len(channels))


def all_told(url: str) -> bool:
    """Every run finished and every message out: the outbox is empty."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            open_follows, pending = connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM follows WHERE NOT finished), "
                    "(SELECT count(*) FROM outbox WHERE delivered_at IS NULL "
                    "AND failed_at IS NULL)"
                )
            ).one()
            finished = connection.execute(
                text("SELECT count(*) FROM follows WHERE finished")
            ).scalar_one()
    finally:
        engine.dispose()
    return open_follows == 0 and pending == 0 and finished >= len(GROUPS) * RUNS_PER_GROUP


def wait_for(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout} s")
        time.sleep(0.25)


def main() -> None:
    header = machine()
    fakes = Fakes(pace=PACE_S, pending=10, running=20)
    try:
        fakes.post("seed", {"groups": GROUPS})
        results = []
        failover = None
        for workers in WORKER_COUNTS:
            result, seen = measure(fakes, workers, kill_one=workers == 2)
            print(f"  {workers} worker(s): {result.per_second:.1f} transitions/s", file=sys.stderr)
            results.append(result)
            failover = failover or seen
    finally:
        fakes.close()
    database = "PostgreSQL" if os.environ.get("BENCH_DATABASE_URL") else "SQLite"
    print(f"Scale-out over {len(GROUPS)} channels on {database}; {header}\n")
    rows = [["pacing ceiling", f"{CEILING_PER_S:.1f}", "—", "—", "—"]]
    rows += [
        [f"{r.workers} worker(s)", f"{r.per_second:.1f}", r.told, f"{r.seconds:.1f}", r.refusals]
        for r in results
    ]
    print(table(["", "transitions/s", f"told (of {TRANSITIONS})", "s (p10-p90)", "429s"], rows))
    if failover is not None:
        print(
            f"\nFailover after SIGKILL of one of 2 workers: its {failover.scopes} poll scope(s) "
            f"held by the other after {failover.scopes_s:.1f} s, its {failover.channels} "
            f"channel(s) posting again after {failover.channels_s:.1f} s (target for the "
            f"scopes: two poll intervals, {2 * POLL_INTERVAL_S:.0f} s here and 60 s at the "
            f"default interval; the floor is the {HEARTBEAT_TTL_SECONDS:.0f} s heartbeat TTL. "
            f"A channel whose message was in flight waits {IN_FLIGHT_GRACE_SECONDS:.0f} s, "
            "until that post cannot be running any more, then looks it up before posting)"
        )


if __name__ == "__main__":
    main()
