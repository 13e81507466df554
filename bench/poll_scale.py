"""Cost of one poll cycle at 10,000 followed executions, and how fast a change reaches Slack.

A benchmark, not a test: nothing is asserted. Run it by hand from the project root::

    /work/.venv/bin/python bench/poll_scale.py

    # PostgreSQL as well as SQLite (a fresh schema is created and dropped again):
    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        /work/.venv/bin/python bench/poll_scale.py

It takes about 1.5 minutes (2.5 with PostgreSQL too) and prints one table; progress goes to
stderr. Other processes on the machine skew the figures: the header shows the load average.

Set-up
    A child process (``multiprocessing``, spawn) holds the AI Core simulator (``SystemClock``,
    10 resource groups ``rg-00``..``rg-09`` x 1,000 executions, mostly RUNNING, some PENDING
    and COMPLETED, every status pinned so nothing moves unless this script moves it; 20 ms of
    latency on every request) and the fake Slack Web API, both served by uvicorn on 127.0.0.1.
    Keeping them out of this process means the CPU time and memory measured here are the
    bot's alone; the child's CPU is reported separately. The bot's real components are built
    with ``bot.app.build`` against a temporary SQLite file (and PostgreSQL when
    ``TEST_DATABASE_URL`` is set), and every execution is followed by its group's channel:
    10,000 follow rows inserted in bulk.

What it measures
    bot poller   ``Poller.cycle()``: AI Core calls (token calls excluded), wall time, CPU time
                 (``time.process_time``, all threads of this process, so aiosqlite's thread is
                 included), peak RSS of the cycle (``VmHWM`` after resetting it through
                 ``/proc/self/clear_refs``), and in one extra cycle run under ``tracemalloc``
                 (which slows allocation, so that cycle is not timed) the peak of memory
                 allocated by the cycle. The first cycle (token, connections, cold caches) is
                 shown on its own; the steady figure is the median of the next cycles.
    naive        one ``GET /lm/executions/{id}`` per execution through the bot's own
                 ``AICoreClient.get_execution``: all 10,000 with at most 50 in flight (the bot's
                 HTTP pool size), and sequentially on a 1,000 sample, extrapolated x10. It only
                 fetches: the comparison with the database is not included, so it is a lower
                 bound for a poller built that way.
    detection    the real ``bot.worker.Worker`` (APScheduler poll job every ``POLL_INTERVAL``,
                 delivery task with its default pacing) runs while the script changes the
                 status of 50 random RUNNING executions (COMPLETED, or DEAD for one in five)
                 at random moments over 20 s, round-robin over the groups so no channel gets
                 a digest. Latency is from the change (stamped by the simulator's process) to
                 the first successful ``chat.update``/``chat.postMessage`` at the fake Slack
                 naming the execution and its new status (``time.monotonic`` is system-wide
                 on Linux, so the two processes' stamps compare).

Targets (printed beside the figures, not enforced): 10 AI Core calls per cycle (one list per
resource group), a cycle under 1 s, peak memory under 150 MB, and p99 detection latency
within one poll interval plus 1 s. Compare runs on the same machine only.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import multiprocessing
import os
import platform
import random
import re
import resource
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

# ``python bench/poll_scale.py`` puts bench/ on sys.path, not the project root; the imports
# below need the root (bot, handlers, tests.support).
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.poller import Poller, PollerConfig  # noqa: E402
from sqlalchemy import create_engine, func, insert, select, text, update  # noqa: E402

from bot.app import Components, build  # noqa: E402
from bot.http import new_http_client  # noqa: E402
from bot.providers.aicore.client import AICoreClient  # noqa: E402
from bot.providers.aicore.simulator import AICoreSimulator, SystemClock  # noqa: E402
from bot.settings import AICoreCredentials, Settings  # noqa: E402
from bot.store.db import Database  # noqa: E402
from bot.store.tables import Follow  # noqa: E402
from bot.worker import Worker  # noqa: E402
from tests.conftest import BOT_TOKEN, bot_settings  # noqa: E402
from tests.support.fake_slack import FakeSlack  # noqa: E402
from tests.support.servers import ServedApp  # noqa: E402

RESOURCE_GROUPS = tuple(f"rg-{i:02d}" for i in range(10))
EXECUTIONS_PER_GROUP = 1_000
# Mostly RUNNING, some PENDING and COMPLETED. COMPLETED follows are closed by the first cycle
# (a final run is not polled again), so steady cycles compare the other 95 %.
STATUS_MIX = (("RUNNING", 0.85), ("PENDING", 0.10), ("COMPLETED", 0.05))
SIM_LATENCY_S = 0.020
CONFIGURATION = "cfg-bench"

STEADY_CYCLES = 4
POLL_INTERVAL_S = 2.0
# Far above the run's length: a PENDING follow must not raise "pending too long" alerts,
# which would add Slack traffic that has nothing to do with polling.
PENDING_ALERT_S = 3600.0

NAIVE_CONCURRENCY = 50  # = max_connections of bot.http.new_http_client
NAIVE_SEQUENTIAL_SAMPLE = 1_000

DETECT_CHANGES = 50
DETECT_SPREAD_S = 20.0
DETECT_DEAD_SHARE = 0.2
# After the last change, give stragglers this long before calling them missed.
DETECT_GRACE_S = 4 * POLL_INTERVAL_S + 5.0

TARGET_CALLS = len(RESOURCE_GROUPS)
TARGET_CYCLE_S = 1.0
TARGET_MEMORY_MB = 150.0
TARGET_DETECT_S = POLL_INTERVAL_S + 1.0

# How long a child process may take to start (imports, seeding) or to answer a command.
CHILD_START_S = 120.0
CHILD_ANSWER_S = 60.0
NAIVE_PASS_TIMEOUT_S = 300.0

PG_ENV = "TEST_DATABASE_URL"
MB = 1024 * 1024
# "/lm/executions/<id>[/logs]" counted as one route whatever the id ("$count" is a route).
_ID_IN_PATH = re.compile(r"^(/lm/executions/)(?!\$count$)[^/]+")


def channel_of(resource_group: str) -> str:
    return "CBENCH" + resource_group.removeprefix("rg-")


# --- the child process: AI Core simulator and fake Slack ------------------------------------


def _seed_simulator(sim: AICoreSimulator, rng: random.Random) -> None:
    statuses = [status for status, _ in STATUS_MIX]
    weights = [weight for _, weight in STATUS_MIX]
    for group in RESOURCE_GROUPS:
        sim.add_configuration(CONFIGURATION, resource_group=group)
        for status in rng.choices(statuses, weights, k=EXECUTIONS_PER_GROUP):
            sim.add_execution(configuration_id=CONFIGURATION, resource_group=group, status=status)


def _take_requests(sim: AICoreSimulator) -> dict[str, int]:
    """Requests since the last call, by route; the list is emptied so the child stays small."""
    taken = list(sim.requests)
    # Only what was copied is removed: a request the server thread appends meanwhile stays.
    del sim.requests[: len(taken)]
    return dict(Counter(f"{r.method} {_route(r.path)}" for r in taken))


def _route(path: str) -> str:
    return _ID_IN_PATH.sub(r"\1{id}", path)


def _slack_calls(fake: FakeSlack, start: int) -> list[tuple[str, float, str | None, str]]:
    """Calls from index ``start`` on: method, arrival (monotonic), error, searchable text."""
    found = []
    for call in fake.calls[start:]:
        blob = str(call.args.get("text") or "") + json.dumps(call.args.get("blocks"))
        found.append((call.method, call.at, call.error, blob))
    return found


def _servers_main(conn: Connection, latency: float, seed: int) -> None:
    """Entry point of the child: serve both fakes, then answer commands until "stop"."""
    logging.basicConfig(level=logging.WARNING)
    sim = AICoreSimulator(clock=SystemClock(), resource_groups=RESOURCE_GROUPS)
    _seed_simulator(sim, random.Random(seed))
    sim.latency = latency
    fake = FakeSlack(bot_token=BOT_TOKEN)
    with ServedApp(sim.app) as sim_server, ServedApp(fake.app) as slack_server:
        conn.send((sim_server.url, slack_server.url))
        # Commands run on this thread while uvicorn serves on its own. set_status swaps an
        # execution's list of phases, so a request sees either the old or the new status.
        while True:
            command, args = conn.recv()
            answer: Any
            if command == "stop":
                conn.send(None)
                return
            if command == "executions":
                answer = {
                    group: [(i, sim.execution_status(i, group)) for i in sim.execution_ids(group)]
                    for group in RESOURCE_GROUPS
                }
            elif command == "requests":
                answer = _take_requests(sim)
            elif command == "set_status":
                group, execution_id, status = args
                sim.set_status(execution_id, status, resource_group=group)
                answer = time.monotonic()  # the moment the change became visible
            elif command == "cpu":
                answer = time.process_time()
            elif command == "slack_calls":
                answer = _slack_calls(fake, *args)
            else:
                answer = ValueError(f"unknown command {command!r}")
            conn.send(answer)


def receive(conn: Connection, process: BaseProcess, timeout: float) -> Any:
    """The child's next message; an error instead of a hang if the child dies or stalls.

    A ``recv()`` stuck for good would keep its worker thread, and so ``asyncio.run``, from
    ever returning: the temporary database and the PostgreSQL schema would stay behind.
    """
    deadline = time.monotonic() + timeout
    while not conn.poll(0.2):
        if not process.is_alive():
            if conn.poll(0):  # its last message may have come just before it exited
                break
            raise RuntimeError(f"{process.name} exited with code {process.exitcode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{process.name} did not answer within {timeout:.0f} s")
    return conn.recv()


class Servers:
    """The child process and a small request/answer protocol over a pipe."""

    def __init__(self, *, latency: float, seed: int) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited threads or state
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_servers_main, args=(child, latency, seed), name="poll-scale-servers"
        )
        self._process.start()
        child.close()
        self._lock = threading.Lock()
        try:
            self.sim_url, self.slack_url = receive(self._conn, self._process, CHILD_START_S)
        except BaseException:
            self.close()
            raise

    def call(self, command: str, *args: Any) -> Any:
        # One exchange at a time: calls come from the event loop's worker threads.
        with self._lock:
            self._conn.send((command, args))
            answer = receive(self._conn, self._process, CHILD_ANSWER_S)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def acall(self, command: str, *args: Any) -> Any:
        # A pipe read blocks; off the event loop, so the bot's tasks keep running meanwhile.
        return await asyncio.to_thread(self.call, command, *args)

    def close(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(OSError, EOFError, RuntimeError, TimeoutError):
                self.call("stop")
            self._process.join(15)
        if self._process.is_alive():
            self._process.terminate()  # our own child, by its handle
            self._process.join(5)
        self._conn.close()


# --- memory helpers --------------------------------------------------------------------------


def _status_kb(field_name: str) -> int | None:
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return None


def reset_rss_peak() -> bool:
    """Reset the kernel's RSS high-water mark, so the next reading is one phase's peak."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def rss_peak_mb() -> float:
    # ru_maxrss (kB on Linux) follows the reset above; VmHWM is the same figure, read directly.
    kb = _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


def rss_now_mb() -> float:
    return (_status_kb("VmRSS") or 0) / 1024


# --- measurements ----------------------------------------------------------------------------


@dataclass
class Sample:
    """One measured poll (or naive fetch) pass."""

    calls: int
    wall_s: float
    cpu_s: float
    sim_cpu_s: float
    rss_peak_mb: float
    traced_peak_mb: float | None = None
    follows: int | None = None
    routes: dict[str, int] = field(default_factory=dict)


@dataclass
class Detection:
    latencies: list[float]
    missed: int
    errors: int
    cycles: list[float]
    skipped_ticks: int


@dataclass
class DbResult:
    label: str
    first: Sample
    steady: list[Sample]
    traced: Sample
    detection: Detection
    problems: list[str]
    rss_rest_mb: float


def api_calls(routes: dict[str, int]) -> int:
    return sum(routes.values())


@contextlib.asynccontextmanager
async def measured(servers: Servers, *, traced: bool = False) -> AsyncIterator[Sample]:
    """Measure the body: the Sample is filled in when the block ends."""
    await servers.acall("requests")  # drop whatever came before
    sim_cpu = await servers.acall("cpu")
    sample = Sample(0, 0.0, 0.0, 0.0, 0.0)
    reset_rss_peak()
    if traced:
        tracemalloc.start()
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        yield sample
    finally:
        sample.wall_s = time.perf_counter() - wall
        sample.cpu_s = time.process_time() - cpu
        if traced:
            sample.traced_peak_mb = tracemalloc.get_traced_memory()[1] / MB
            tracemalloc.stop()
        sample.rss_peak_mb = rss_peak_mb()
        sample.sim_cpu_s = await servers.acall("cpu") - sim_cpu
        sample.routes = await servers.acall("requests")
        sample.calls = api_calls(sample.routes)


async def open_follows(components: Components) -> int:
    async with components.db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(Follow).where(Follow.finished.is_(False))
        )
    return int(count or 0)


async def seed_follows(db: Database, executions: dict[str, list[tuple[str, str]]]) -> None:
    """One follow per execution, already told its current status: a quiet steady state."""
    now = datetime.now(UTC)
    created = now - timedelta(hours=1)  # past the poller's grace for runs not yet listed
    followed = [
        (group, run_id, status) for group, runs in executions.items() for run_id, status in runs
    ]
    rows: list[dict[str, Any]] = [
        {
            "provider": "aicore",
            "scope": group,
            "run_id": run_id,
            "channel": channel_of(group),
            "card_ts": f"1600000000.{n:06d}",
            "started_by": None,
            "origin": "watch",
            "announced_status": status,
            "status_since": now,
            "pending_alerted": False,
            "delete_when_stopped_by": None,
            "snapshot": {},
            "finished": False,
            "created_at": created,
            "updated_at": created,
        }
        for n, (group, run_id, status) in enumerate(followed)
    ]
    async with db.session() as session, session.begin():
        await session.execute(insert(Follow), rows)


async def measure_poller(
    components: Components, servers: Servers, problems: list[str]
) -> tuple[Poller, Sample, list[Sample], Sample]:
    poller = Poller(
        providers=components.providers,
        db=components.db,
        config=PollerConfig(
            interval_seconds=POLL_INTERVAL_S, pending_alert_seconds=PENDING_ALERT_S
        ),
    )

    async def one(*, traced: bool = False) -> Sample:
        follows = await open_follows(components)
        async with measured(servers, traced=traced) as sample:
            report = await poller.cycle()
        sample.follows = follows
        if report.failed_scopes or report.transitions or not report.leader:
            problems.append(
                f"cycle: leader={report.leader} failed={report.failed_scopes} "
                f"transitions={report.transitions}"
            )
        return sample

    first = await one()
    steady = [await one() for _ in range(STEADY_CYCLES)]
    traced = await one(traced=True)
    return poller, first, steady, traced


# The naive poller runs in a process of its own: its memory then cannot be confused with what
# the bot's cycles left behind (freed memory mostly stays resident in CPython), and vice versa.


def _naive_main(conn: Connection, sim_url: str) -> None:
    """Entry point of the naive child: answers "concurrent"/"sequential" with its figures."""
    logging.basicConfig(level=logging.WARNING)
    targets: list[tuple[str, str]] = conn.recv()
    asyncio.run(_naive_async(conn, sim_url, targets))


async def _naive_async(conn: Connection, sim_url: str, targets: list[tuple[str, str]]) -> None:
    settings = bot_settings(slack_url="http://127.0.0.1:9", aicore_url=sim_url, database_url="")
    # The bot's own client and HTTP pool (50 connections), default retry policy.
    http = new_http_client()
    client = AICoreClient(credentials=_credentials(settings), http=http)
    try:
        # Token and a first connection outside the measurement, as the bot's first cycle has
        # already paid for them when its steady cycles are measured.
        await client.get_execution(*targets[0])
        semaphore = asyncio.Semaphore(NAIVE_CONCURRENCY)

        async def fetch(group: str, run_id: str) -> str:
            async with semaphore:
                return (await client.get_execution(group, run_id)).status

        # A spread-out sample (every group) for the sequential pass.
        step = max(1, len(targets) // NAIVE_SEQUENTIAL_SAMPLE)
        sample = targets[::step][:NAIVE_SEQUENTIAL_SAMPLE]
        conn.send(rss_now_mb())
        # The parent says when: it reads the simulator's counters around each pass. Nothing
        # else runs on this loop meanwhile, so the blocking recv() holds nothing up.
        while (command := conn.recv()) != "stop":
            reset_rss_peak()
            cpu, wall = time.process_time(), time.perf_counter()
            if command == "concurrent":
                statuses = await asyncio.gather(*(fetch(g, r) for g, r in targets))
            else:
                statuses = [(await client.get_execution(g, r)).status for g, r in sample]
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            conn.send((wall, cpu, rss_peak_mb(), len(statuses)))
    finally:
        await http.aclose()


async def measure_naive(
    servers: Servers, executions: dict[str, list[tuple[str, str]]]
) -> tuple[Sample, Sample, float]:
    """Every execution fetched on its own, the way a poller without a list call would."""
    targets = [(group, run_id) for group, runs in executions.items() for run_id, _ in runs]
    context = multiprocessing.get_context("spawn")
    conn, child = context.Pipe()
    process = context.Process(
        target=_naive_main, args=(child, servers.sim_url), name="poll-scale-naive"
    )
    process.start()
    child.close()
    samples: list[Sample] = []
    try:
        # Over the pipe, not as an argument: spawn writes arguments to the child before it
        # reads them, and a large write to a child that dies while importing never returns.
        await asyncio.to_thread(conn.send, targets)
        rss_rest: float = await asyncio.to_thread(receive, conn, process, CHILD_START_S)
        for command in ("concurrent", "sequential"):
            await servers.acall("requests")  # drop the warm-up call
            sim_cpu = await servers.acall("cpu")
            conn.send(command)
            wall, cpu, rss, fetched = await asyncio.to_thread(
                receive, conn, process, NAIVE_PASS_TIMEOUT_S
            )
            routes = await servers.acall("requests")
            samples.append(
                Sample(
                    calls=api_calls(routes),
                    wall_s=wall,
                    cpu_s=cpu,
                    sim_cpu_s=await servers.acall("cpu") - sim_cpu,
                    rss_peak_mb=rss,
                    follows=fetched,
                    routes=routes,
                )
            )
        conn.send("stop")
    finally:
        conn.close()  # a child still waiting for a command sees EOF and ends
        process.join(30)
        if process.is_alive():
            process.terminate()  # our own child, by its handle
            process.join(5)
    return samples[0], samples[1], rss_rest


def _credentials(settings: Settings) -> AICoreCredentials:
    credentials = settings.aicore_credentials()
    if credentials is None:
        raise RuntimeError("bot_settings gave no AI Core credentials")
    return credentials


class _SkippedTicks(logging.Handler):
    """Counts APScheduler's "skipped: maximum number of running instances" (cycle overran)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "maximum number of running instances" in record.getMessage():
            self.count += 1


@contextlib.contextmanager
def counting_skipped_ticks() -> Iterator[_SkippedTicks]:
    handler = _SkippedTicks()
    logger = logging.getLogger("apscheduler")
    previous = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # counted, not printed: one line per tick would drown the table
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = previous


async def measure_detection(
    components: Components,
    servers: Servers,
    executions: dict[str, list[tuple[str, str]]],
    rng: random.Random,
) -> Detection:
    # Round-robin over groups (so over channels): ~5 changes per channel over 20 s keeps
    # every channel far below the digest threshold of 10 per cycle.
    running = {g: [r for r, s in runs if s == "RUNNING"] for g, runs in executions.items()}
    chosen: list[tuple[str, str]] = []
    for n in range(DETECT_CHANGES):
        group = RESOURCE_GROUPS[n % len(RESOURCE_GROUPS)]
        run_id = rng.choice(running[group])
        running[group].remove(run_id)
        chosen.append((group, run_id))

    # Real cards for the chosen runs, so the card updates succeed like in production
    # (the other 9,950 follows keep a made-up ts: they never change, so it is never used).
    async with components.db.session() as session, session.begin():
        for group, run_id in chosen:
            posted = await components.slack.chat_postMessage(
                channel=channel_of(group), text=f"AI Core {run_id} is RUNNING"
            )
            await session.execute(
                update(Follow)
                .where(Follow.scope == group, Follow.run_id == run_id)
                .values(card_ts=str(posted["ts"]))
            )

    worker = Worker(components)
    cycles: list[float] = []
    original = worker.poll_once

    async def timed_poll() -> None:
        started = time.perf_counter()
        try:
            await original()
        finally:
            cycles.append(time.perf_counter() - started)

    # The scheduler takes the bound method at start(); an instance attribute shadows it.
    worker.poll_once = timed_poll  # type: ignore[method-assign]
    mark = len(await servers.acall("slack_calls", 0))
    offsets = sorted(rng.uniform(0.0, DETECT_SPREAD_S) for _ in chosen)
    changes: list[tuple[str, str, float]] = []  # run id, new status, when it changed

    with counting_skipped_ticks() as skipped:
        worker.start()
        try:
            # One interval first: the start-up cycle is not what a change normally meets.
            await asyncio.sleep(POLL_INTERVAL_S)
            begin = time.monotonic()
            for offset, (group, run_id) in zip(offsets, chosen, strict=True):
                await asyncio.sleep(max(0.0, begin + offset - time.monotonic()))
                status = "DEAD" if rng.random() < DETECT_DEAD_SHARE else "COMPLETED"
                changed_at = await servers.acall("set_status", group, run_id, status)
                changes.append((run_id, status, changed_at))
            deadline = time.monotonic() + DETECT_GRACE_S
            while True:
                calls = await servers.acall("slack_calls", mark)
                arrivals = _arrivals(changes, calls)
                if len(arrivals) == len(changes) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
        finally:
            await worker.stop()
    errors = sum(1 for _method, _at, error, _blob in calls if error is not None)
    return Detection(
        latencies=sorted(arrivals.values()),
        missed=len(changes) - len(arrivals),
        errors=errors,
        cycles=cycles,
        skipped_ticks=skipped.count,
    )


def _arrivals(
    changes: list[tuple[str, str, float]], calls: list[tuple[str, float, str | None, str]]
) -> dict[str, float]:
    """Per changed run: seconds from the change to the first Slack message that tells it.

    A digest line names the run and its status too, so a digest counts as an arrival.
    """
    found: dict[str, float] = {}
    for run_id, status, changed_at in changes:
        for method, at, error, blob in calls:
            if (
                method in ("chat.update", "chat.postMessage")
                and error is None
                and at >= changed_at
                and run_id in blob
                and status in blob
            ):
                found[run_id] = at - changed_at
                break
    return found


# --- one database ----------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh schema in the PostgreSQL database of ``base_url``; dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()  # no idle connection of ours beside the bot's during the measurements
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def postgres_version(base_url: str) -> str:
    admin = create_engine(base_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.connect() as connection:
            return str(connection.execute(text("SHOW server_version")).scalar())
    finally:
        admin.dispose()


def settings_for(servers: Servers, database_url: str) -> Settings:
    return bot_settings(
        slack_url=servers.slack_url,
        aicore_url=servers.sim_url,
        database_url=database_url,
        poll_interval_seconds=POLL_INTERVAL_S,
        pending_alert_seconds=PENDING_ALERT_S,
    )


async def run_database(
    label: str, database_url: str, servers: Servers, rng: random.Random
) -> DbResult:
    # Statuses as they are now: an earlier database's detection phase finished some runs.
    executions: dict[str, list[tuple[str, str]]] = await servers.acall("executions")
    # Production wiring: the default HTTP client (50 connections) and retry policy.
    components = await build(settings_for(servers, database_url))
    problems: list[str] = []
    try:
        await seed_follows(components.db, executions)
        gc.collect()  # the seeding's row dicts are not part of what polling needs
        rss_rest = rss_now_mb()
        poller, first, steady, traced = await measure_poller(components, servers, problems)
        # The Worker below has a poller of its own: hand the lease over instead of waiting
        # for it to expire.
        await poller.release_lease()
        detection = await measure_detection(components, servers, executions, rng)
    finally:
        await components.aclose()
    return DbResult(label, first, steady, traced, detection, problems, rss_rest)


# --- report ----------------------------------------------------------------------------------


def nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def median_sample(samples: list[Sample]) -> Sample:
    def med(get: Callable[[Sample], float]) -> float:
        return statistics.median(get(s) for s in samples)

    return Sample(
        calls=round(med(lambda s: s.calls)),
        wall_s=med(lambda s: s.wall_s),
        cpu_s=med(lambda s: s.cpu_s),
        sim_cpu_s=med(lambda s: s.sim_cpu_s),
        rss_peak_mb=max(s.rss_peak_mb for s in samples),  # the worst, not the middle
        follows=samples[-1].follows,
    )


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def row(
    name: str, s: Sample, rest_mb: float, *, scale: float = 1.0, traced: float | None = None
) -> str:
    traced_text = f"{traced:8.1f}" if traced is not None else f"{'-':>8}"
    follows = f"{s.follows * scale:,.0f}" if s.follows is not None else "-"
    return (
        f"{name:<44} {s.calls * scale:>9,.0f} {s.wall_s * scale:>8.2f} {s.cpu_s * scale:>7.2f} "
        f"{s.sim_cpu_s * scale:>7.2f} {traced_text} {s.rss_peak_mb:>7.1f} {rest_mb:>7.1f} "
        f"{follows:>8}"
    )


def print_report(
    header: list[str], results: list[DbResult], naive: tuple[Sample, Sample, float]
) -> None:
    print("\n".join(header))
    print()
    print(
        f"{'poll pass':<44} {'AI calls':>9} {'wall s':>8} {'CPU s':>7} {'sim CPU':>7} "
        f"{'alloc MB':>8} {'RSS MB':>7} {'rest MB':>7} {'follows':>8}"
    )
    print("-" * 114)
    for result in results:
        steady = median_sample(result.steady)
        rest = result.rss_rest_mb
        print(row(f"bot poller, {result.label}, first cycle", result.first, rest))
        print(
            row(
                f"bot poller, {result.label}, steady (median of {len(result.steady)})",
                steady,
                rest,
                traced=result.traced.traced_peak_mb,
            )
        )
        routes = ", ".join(f"{k} x{v}" for k, v in sorted(result.steady[-1].routes.items()))
        print(f"{'':<6}AI Core calls of one steady cycle: {routes or 'none'}")
    concurrent, sequential, naive_rest = naive
    print(row(f"naive GET per execution, {NAIVE_CONCURRENCY} in flight", concurrent, naive_rest))
    factor = len(RESOURCE_GROUPS) * EXECUTIONS_PER_GROUP / max(1, sequential.follows or 1)
    print(
        row(
            f"naive GET per execution, sequential (x{factor:g})",
            sequential,
            naive_rest,
            scale=factor,
        )
        + f"  <- {sequential.follows:,} measured, extrapolated"
    )
    for note in (
        "wall/CPU s: per cycle (CPU: this process, all threads); sim CPU: the simulator's "
        "process, not included in CPU s;",
        "alloc MB: tracemalloc peak of one more, untimed, cycle; RSS MB: the process's peak "
        "RSS during the pass (high-water mark reset",
        "before it, so never below the RSS at its start); rest MB: RSS before the row's first "
        "pass (imports, components,",
        "seeded database, and whatever earlier rows left resident: CPython keeps freed memory).",
        "The naive rows run in a process of their own (same imports) and only fetch: no "
        "database compare, so they are a lower bound.",
    ):
        print(f"  {note}")

    print()
    print(
        f"detection latency (real Worker, POLL_INTERVAL {POLL_INTERVAL_S:g} s, delivery pacing "
        f"1 s per channel; {DETECT_CHANGES} changes over {DETECT_SPREAD_S:g} s)"
    )
    print(
        f"{'database':<12} {'arrived':>8} {'p50 s':>7} {'p99 s':>7} {'max s':>7} "
        f"{'cycles':>7} {'cycle p50 s':>12} {'skipped ticks':>14}"
    )
    for result in results:
        d = result.detection
        p50 = nearest_rank(d.latencies, 0.50) if d.latencies else math.nan
        p99 = nearest_rank(d.latencies, 0.99) if d.latencies else math.nan
        top = max(d.latencies) if d.latencies else math.nan
        cycle = statistics.median(d.cycles) if d.cycles else math.nan
        print(
            f"{result.label:<12} {len(d.latencies):>4}/{len(d.latencies) + d.missed:<3} "
            f"{p50:>7.2f} {p99:>7.2f} {top:>7.2f} {len(d.cycles):>7} {cycle:>12.2f} "
            f"{d.skipped_ticks:>14}"
        )
    rank = max(1, math.ceil(0.99 * DETECT_CHANGES))
    print(
        f"  latency: change at the simulator -> first successful Slack message naming the run "
        f"and its new status; p99 is nearest-rank ({rank} of {DETECT_CHANGES}); skipped ticks: "
        "poll ticks APScheduler skipped because a cycle was still running."
    )

    print()
    print("against the targets")
    for result in results:
        steady = median_sample(result.steady)
        d = result.detection
        p99 = nearest_rank(d.latencies, 0.99) if d.latencies and not d.missed else math.inf
        memory = max(s.rss_peak_mb for s in [result.first, *result.steady])
        print(
            f"  {result.label:<10} calls/cycle {steady.calls} vs {TARGET_CALLS} "
            f"[{_mark(steady.calls <= TARGET_CALLS)}]  "
            f"cycle {steady.wall_s:.2f} s vs <{TARGET_CYCLE_S:g} s "
            f"[{_mark(steady.wall_s < TARGET_CYCLE_S)}]  "
            f"peak RSS {memory:.0f} MB vs <{TARGET_MEMORY_MB:g} MB "
            f"[{_mark(memory < TARGET_MEMORY_MB)}]  "
            f"p99 detection {p99:.2f} s vs <={TARGET_DETECT_S:g} s "
            f"[{_mark(p99 <= TARGET_DETECT_S)}]"
        )
        for problem in result.problems:
            print(f"  {result.label}: unexpected: {problem}")
        if result.detection.missed or result.detection.errors:
            print(
                f"  {result.label}: {result.detection.missed} change(s) never arrived, "
                f"{result.detection.errors} Slack call(s) failed"
            )


def header_lines(
    databases: list[tuple[str, str]],
    pg_version: str | None,
    rss_ok: bool,
    load: tuple[float, float],
) -> list[str]:
    dbs = ", ".join(
        f"SQLite {sqlite3.sqlite_version} (temp file)"
        if label == "sqlite"
        else f"PostgreSQL {pg_version} ({PG_ENV}, own schema)"
        for label, _url in databases
    )
    mix = ", ".join(f"{status} {share:.0%}" for status, share in STATUS_MIX)
    total = len(RESOURCE_GROUPS) * EXECUTIONS_PER_GROUP
    return [
        f"poll_scale: {len(RESOURCE_GROUPS)} resource groups x {EXECUTIONS_PER_GROUP:,} "
        f"executions = {total:,} followed, one channel per group ({mix})",
        f"machine:    {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        # Other processes compete for the same CPUs: a high load explains a slow run.
        f"load average {load[0]:.1f} (1 min, at start), {load[1]:.1f} (5 min, at end)",
        f"database:   {dbs}",
        f"AI Core:    simulator with {SIM_LATENCY_S * 1000:g} ms latency per call, served with "
        "the fake Slack by uvicorn (h11) on 127.0.0.1 in a separate process: CPU and memory "
        "below are the bot's alone",
        f"targets:    {TARGET_CALLS} AI Core calls per cycle, cycle < {TARGET_CYCLE_S:g} s, "
        f"peak memory < {TARGET_MEMORY_MB:g} MB, p99 detection <= interval + 1 s = "
        f"{TARGET_DETECT_S:g} s",
        *(
            []
            if rss_ok
            else ["note:       /proc/self/clear_refs refused: RSS peaks are cumulative"]
        ),
    ]


async def main_async(servers: Servers, databases: list[tuple[str, str]]) -> None:
    rng = random.Random()
    load_at_start = os.getloadavg()[0]
    results: list[DbResult] = []
    for label, url in databases:
        print(f"... measuring {label}", file=sys.stderr, flush=True)
        results.append(await run_database(label, url, servers, rng))
    print("... measuring the naive poller", file=sys.stderr, flush=True)
    executions = await servers.acall("executions")
    naive = await measure_naive(servers, executions)
    pg_url = os.environ.get(PG_ENV)
    pg_version = postgres_version(pg_url) if pg_url else None
    load = (load_at_start, os.getloadavg()[1])
    print_report(header_lines(databases, pg_version, reset_rss_peak(), load), results, naive)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    print("... starting the simulator process (seeding 10,000 executions)", file=sys.stderr)
    servers = Servers(latency=SIM_LATENCY_S, seed=random.randrange(2**32))
    try:
        with (
            tempfile.TemporaryDirectory(prefix="poll_scale_") as tmp,
            contextlib.ExitStack() as stack,
        ):
            databases = [("sqlite", f"sqlite:///{Path(tmp) / 'chatops.db'}")]
            pg_url = os.environ.get(PG_ENV)
            if pg_url:
                databases.append(("postgresql", stack.enter_context(postgres_schema(pg_url))))
            asyncio.run(main_async(servers, databases))
    finally:
        servers.close()
    print(f"\n(run took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
