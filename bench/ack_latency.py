"""Ack latency of ``POST /slack/events`` while AI Core is slow (a benchmark, not a test).

Run it by hand from the project root; it takes 80-90 s, prints one table, asserts nothing,
and Ctrl-C stops everything it started::

    /work/.venv/bin/python bench/ack_latency.py

What it measures
    Slack gives an app 3 s to answer a slash command or a button click over HTTP, and that
    answer (the "ack") must not wait for AI Core. Here every AI Core call takes
    ``SIM_LATENCY_S`` (2 s): the simulator sleeps that long on every request, token included.

    Ack latency is the time from sending a signed request to receiving the HTTP response, as
    the client sees it. Per (kind x scenario) the table shows p50, p99 and max in ms over
    every HTTP answer (a 404 or 500 is an answer too), how many answers were 200s, and how
    many requests Slack would have given up on (slower than 3 s, or no answer in 10 s).

    kinds      ``/aicore status <id>`` and ``/aicore start cfg-bench``, alternating (both ack,
               then call AI Core); ``run_refresh`` clicks on cards the bot posted.
    scenarios  100 requests/s for 5 s, open loop (sends follow a fixed timetable and never
               wait for earlier answers, so a slow server cannot slow its own load down); and
               100 requests at once (``asyncio.gather``).

    The same four measurements run against a deliberately naive Bolt app that calls AI Core
    *before* ``ack()``: the cost the bot's ack-first listeners are meant to avoid.

Set-up
    This process serves the AI Core simulator (``SystemClock``) and the fake Slack Web API on
    127.0.0.1 (``ServedApp``: uvicorn threads) and sends the load from one
    ``httpx.AsyncClient``. The bot runs as ``python -m bot`` (``BotProcess``, LOG_LEVEL
    WARNING) on a temporary SQLite database; the naive app runs in a second subprocess. Both
    are warmed up first (AI Core token held, one request of each kind run to the end).

    The bursts share one bot and wait, after each, until no AI Core or Slack request has been
    in flight for a moment (its after-ack work is over). A steady scenario leaves more
    after-ack work than fits in the time budget, so each one gets a freshly started bot.

    Each row's notes add the CPU the server process and this process used while it ran
    (% of one core: a server near 100 % is saturated, as it runs one event loop; a harness
    near 100 % would make the figures upper bounds), how late the load generator sent, and
    for the steady scenarios the p50 per second of sending (acks slow down once AI Core's
    first answers arrive, ``SIM_LATENCY_S`` in). The bot's warnings and errors are
    summarised at the end, apart from those logged while it was being stopped.

The targets (bot p99 < 50 ms at 100/s and < 500 ms for 100 at once; naive p50 > 2000 ms)
are printed beside the table, never asserted. Compare runs on the same machine only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import multiprocessing
import os
import platform
import re
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# ``python bench/ack_latency.py`` puts bench/ on sys.path, not the project root; the imports
# below need the root (bot, handlers, tests.support). The naive app's subprocess re-imports
# this file, so this also runs there.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler  # noqa: E402
from slack_bolt.async_app import AsyncAck, AsyncApp  # noqa: E402
from slack_sdk.web.async_client import AsyncWebClient  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402
from starlette.types import ASGIApp, Receive, Scope, Send  # noqa: E402

from bot.blocks import ACTION_REFRESH  # noqa: E402
from bot.providers.aicore.simulator import AICoreSimulator, SystemClock  # noqa: E402
from tests.support.bolt import SIGNING_SECRET, buttons  # noqa: E402
from tests.support.fake_slack import FakeSlack  # noqa: E402
from tests.support.process import BotProcess  # noqa: E402
from tests.support.servers import ServedApp, free_port  # noqa: E402
from tests.support.slack_signing import block_actions_body, sign, slash_command_body  # noqa: E402

BOT_TOKEN = "xoxb-bench-token"
SIM_CLIENT_ID = "sim-client"
SIM_CLIENT_SECRET = "sim-secret"
CONFIGURATION = "cfg-bench"
RESOURCE_GROUP = "default"
CHANNEL = "CBENCH"
RUNNING_EXECUTIONS = 5

SIM_LATENCY_S = 2.0
RATE_PER_S = 100
DURATION_S = 5.0
STEADY_N = int(RATE_PER_S * DURATION_S)
BURST = 100
SLACK_DEADLINE_MS = 3000.0  # past this Slack shows the user "operation_timeout"

# Enough connections for every request of a scenario to be in flight at once: with slow acks
# a smaller pool would queue sends inside the client, and that wait would be measured as the
# server's. Spread over small pools (see ShardedTransport). The timeout bounds a wedged server.
POOL_SHARDS = 24
CONNECTIONS_PER_SHARD = 25  # 600 in all: every request of a scenario (500 or 100) at once
CLIENT_TIMEOUT = httpx.Timeout(10.0)

# Between scenarios: wait until no AI Core or Slack request has been in flight or started for
# SETTLE_QUIET_S (a bot's steps between two calls take milliseconds), i.e. the after-ack work
# is done. Capped, to keep the run near 90 s; the notes say when the cap was hit.
SETTLE_QUIET_S = 0.5
SETTLE_CAP_S = 10.0
START_TIMEOUT_S = 30.0

TARGET_STEADY_P99_MS = 50.0
TARGET_BURST_P99_MS = 500.0
TARGET_NAIVE_P50_MS = 2000.0

_BEGAN = time.monotonic()
LOAD_AT_START = os.getloadavg()[0] if hasattr(os, "getloadavg") else None


# --- requests, samples, results -------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """One signed request, built before the clock starts so that signing is not measured."""

    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Sample:
    latency_ms: float
    status: int | None  # None: no HTTP answer (timeout, connection error)
    error: str | None = None
    lag_ms: float = 0.0  # how late the send left compared with its slot in the timetable


@dataclass
class Result:
    label: str
    sent: int
    samples: list[Sample]
    notes: list[str] = field(default_factory=list)

    @property
    def answered(self) -> list[float]:
        # A fast 404 or 500 is still an answer Slack waited for: it counts in the percentiles.
        return [s.latency_ms for s in self.samples if s.status is not None]

    @property
    def ok(self) -> int:
        return sum(1 for s in self.samples if s.status == 200)

    @property
    def too_slow_for_slack(self) -> int:
        return sum(1 for s in self.samples if s.status is None or s.latency_ms > SLACK_DEADLINE_MS)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest rank: p99 of 100 values is the 99th smallest, never an interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def signed(body: bytes) -> Prepared:
    return Prepared(body=body, headers=sign(SIGNING_SECRET, body))


def command_requests(
    fake: FakeSlack, slack_url: str, run_ids: Sequence[str], n: int
) -> list[Prepared]:
    """Alternate ``status <id>`` and ``start cfg-bench``: both ack, then call AI Core."""
    ids = itertools.cycle(run_ids)
    out = []
    for i in range(n):
        text = f"status {next(ids)}" if i % 2 == 0 else f"start {CONFIGURATION}"
        # A fresh response URL per request, as Slack gives one per command.
        url = fake.response_url(slack_url)
        out.append(signed(slash_command_body(text=text, channel_id=CHANNEL, response_url=url)))
    return out


def click_requests(
    fake: FakeSlack, slack_url: str, cards: Sequence[tuple[str, str]], n: int
) -> list[Prepared]:
    """``run_refresh`` clicks, spread over the cards (message ts, button value)."""
    out = []
    for _, (ts, value) in zip(range(n), itertools.cycle(cards), strict=False):
        body = block_actions_body(
            action_id=ACTION_REFRESH,
            value=value,
            channel_id=CHANNEL,
            message_ts=ts,
            response_url=fake.response_url(slack_url),
        )
        out.append(signed(body))
    return out


# --- load -----------------------------------------------------------------------------------


class ShardedTransport(httpx.AsyncBaseTransport):
    """httpx's transport over several small connection pools, taken in turn.

    httpcore 1.0's pool rescans all its connections, for every idle one, on every request it
    starts or finishes (``_assign_requests_to_connections``: O(n^2), encode/httpcore#1035).
    With the hundreds of connections slow acks need, one pool makes the load client burn a
    core and the latency it measures is its own. 24 pools of 25 keep n small; one
    ``httpx.AsyncClient`` on top still sends everything.
    """

    def __init__(self, shards: int = POOL_SHARDS, per_shard: int = CONNECTIONS_PER_SHARD) -> None:
        limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        self._pools = [httpx.AsyncHTTPTransport(limits=limits) for _ in range(shards)]
        self._turn = itertools.cycle(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._turn).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=ShardedTransport(), timeout=CLIENT_TIMEOUT)


async def send(
    client: httpx.AsyncClient, url: str, request: Prepared, due: float | None = None
) -> Sample:
    started = time.perf_counter()
    lag_ms = (started - due) * 1000 if due is not None else 0.0
    try:
        response = await client.post(url, content=request.body, headers=request.headers)
    except httpx.HTTPError as exc:
        return Sample((time.perf_counter() - started) * 1000, None, type(exc).__name__, lag_ms)
    return Sample((time.perf_counter() - started) * 1000, response.status_code, None, lag_ms)


async def open_loop(
    client: httpx.AsyncClient, url: str, requests: Sequence[Prepared]
) -> list[Sample]:
    """Send on a fixed timetable (``RATE_PER_S``); never wait for an answer first.

    A closed loop (send, wait, send) would let a slow server throttle its own load and hide
    exactly the latency we are after ("coordinated omission").
    """
    start = time.perf_counter() + 0.05
    tasks: list[asyncio.Task[Sample]] = []
    for i, request in enumerate(requests):
        due = start + i / RATE_PER_S
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(client, url, request, due)))
    return list(await asyncio.gather(*tasks))


async def at_once(
    client: httpx.AsyncClient, url: str, requests: Sequence[Prepared]
) -> list[Sample]:
    return list(await asyncio.gather(*(send(client, url, r) for r in requests)))


Load = Callable[[httpx.AsyncClient, str, Sequence[Prepared]], Awaitable[list[Sample]]]


class InFlight:
    """ASGI wrapper counting requests in progress and in total.

    Neither the simulator nor the fake Slack keeps such a count, and it is what tells that a
    server's after-ack work is over: nothing in flight at AI Core or Slack, nothing new.
    Only the serving thread writes the counters; the load's thread just reads them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.active = 0
        self.total = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.active += 1
        self.total += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


async def settle(meters: Sequence[InFlight], cap: float = SETTLE_CAP_S) -> str:
    """Wait until the last scenario's after-ack work is over (or ``cap`` has passed)."""
    began = time.monotonic()
    last_busy = began
    seen = sum(m.total for m in meters)
    while True:
        await asyncio.sleep(0.05)
        now = time.monotonic()
        total = sum(m.total for m in meters)
        if total != seen or any(m.active for m in meters):
            seen, last_busy = total, now
        if now - last_busy >= SETTLE_QUIET_S:
            return f"after-ack work ended {last_busy - began:.1f} s after the last answer"
        if now - began >= cap:
            return f"after-ack work still running {cap:.0f} s after the last answer"


# --- CPU accounting (Linux /proc; elsewhere the notes just leave it out) --------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far, all threads included."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def child_pid(marker: str) -> int | None:
    """The pid of our child process whose command line contains ``marker`` (Linux only).

    BotProcess does not expose its pid; /proc knows our children and their command lines.
    """
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{os.getpid()}/task").iterdir():
            children += [int(p) for p in (task / "children").read_text().split()]
    for pid in children:
        with contextlib.suppress(OSError):
            if marker in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "):
                return pid
    return None


class CpuMeter:
    """% of one core a server process and this process used between ``__init__`` and ``read``."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.began = time.monotonic()
        self.server0 = cpu_seconds(server_pid) if server_pid else None
        self.self0 = cpu_seconds(os.getpid())

    def read(self, server: str) -> str | None:
        wall = time.monotonic() - self.began
        server1 = cpu_seconds(self.server_pid) if self.server_pid else None
        self1 = cpu_seconds(os.getpid())
        if None in (self.server0, server1, self.self0, self1) or wall <= 0:
            return None
        assert self.server0 is not None and server1 is not None
        assert self.self0 is not None and self1 is not None
        return (
            f"CPU while it ran: {server} {100 * (server1 - self.server0) / wall:.0f} %, "
            f"harness {100 * (self1 - self.self0) / wall:.0f} % of a core"
        )


# --- the naive app (runs in its own process) ------------------------------------------------


class _CountingHandler(logging.Handler):
    def __init__(self, counts: Counter[str]) -> None:
        super().__init__()
        self.counts = counts

    def emit(self, record: logging.LogRecord) -> None:
        # First line only: Bolt's hints run on for a dozen lines.
        self.counts[record.getMessage().splitlines()[0][:70]] += 1


class NaiveApp:
    """A Bolt app that asks AI Core first and acks after: what the bot must not do.

    One AI Core request per Slack request (GET the execution, or POST a new one) through a
    plain httpx client with a cached token, so that the comparison is about ordering only.
    """

    def __init__(self, *, slack_url: str, aicore_url: str) -> None:
        self.aicore_url = aicore_url
        # As many connections as the load has requests, in small pools like the load client's:
        # the naive app is to be slow because of its ordering, not because of a queue for a
        # connection or the pool's bookkeeping.
        self.http = new_client()
        self._token: str | None = None
        self._token_lock = asyncio.Lock()
        # Bolt logs every listener that missed its 3 s ack window (a warning plus a long
        # "unhandled request" hint): counted and summarised instead of flooding the output.
        self.log_counts: Counter[str] = Counter()
        logger = logging.getLogger("bench.naive")
        logger.propagate = False
        logger.setLevel(logging.WARNING)
        logger.addHandler(_CountingHandler(self.log_counts))
        # Only ``client`` (no ``token=``): Bolt uses the client's token and would warn that a
        # separate ``token`` is ignored. Its one auth.test call goes to the fake Slack.
        self.bolt = AsyncApp(
            signing_secret=SIGNING_SECRET,
            client=AsyncWebClient(base_url=f"{slack_url}/api/", token=BOT_TOKEN),
            logger=logger,
        )
        self.bolt.command("/aicore")(self._command)
        self.bolt.action(ACTION_REFRESH)(self._refresh)
        handler = AsyncSlackRequestHandler(self.bolt)

        async def slack_events(request: Request) -> Response:
            return await handler.handle(request)

        async def fetch_token(_request: Request) -> Response:
            # Benchmark plumbing, not part of the naive design: the token costs 2 s too, and a
            # first request paying token + call (4 s) would miss Bolt's 3 s ack window.
            await self._bearer()
            return Response(status_code=204)

        self.app = Starlette(
            routes=[
                Route("/slack/events", slack_events, methods=["POST"]),
                Route("/bench/token", fetch_token, methods=["POST"]),
            ]
        )

    async def _bearer(self) -> str:
        if self._token is not None:
            return self._token
        async with self._token_lock:
            if self._token is None:
                response = await self.http.post(
                    f"{self.aicore_url}/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(SIM_CLIENT_ID, SIM_CLIENT_SECRET),
                )
                response.raise_for_status()
                self._token = str(response.json()["access_token"])
            return self._token

    async def _aicore(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {
            "Authorization": f"Bearer {await self._bearer()}",
            "AI-Resource-Group": RESOURCE_GROUP,
        }
        response = await self.http.request(
            method, f"{self.aicore_url}/v2{path}", json=body, headers=headers
        )
        response.raise_for_status()
        return response.json()

    async def _command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        verb, _, arg = str(command.get("text") or "").strip().partition(" ")
        if verb == "start":
            created = await self._aicore("POST", "/lm/executions", {"configurationId": arg})
            await ack(response_type="ephemeral", text=f"Started `{created.get('id')}`")
        else:
            execution = await self._aicore("GET", f"/lm/executions/{arg}")
            await ack(response_type="ephemeral", text=f"`{arg}` is {execution.get('status')}")

    async def _refresh(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        ref = json.loads(body["actions"][0]["value"])
        await self._aicore("GET", f"/lm/executions/{ref['r']}")
        await ack()


def serve_naive(slack_url: str, aicore_url: str, port: int, counts_path: str) -> None:
    """Subprocess entry point: serve the naive app until SIGTERM/SIGINT, then report its log."""
    naive = NaiveApp(slack_url=slack_url, aicore_url=aicore_url)
    config = uvicorn.Config(
        naive.app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",  # the same pure-Python stack as the bot (no httptools/uvloop here)
        loop="asyncio",
        access_log=False,
    )
    # uvicorn turns SIGTERM (our stop) and SIGINT (Ctrl-C reaches the whole process group) into
    # a graceful stop, then raises the signal again under the handler it found. With SIG_IGN
    # found, that second raise does nothing and the cleanup below runs.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    server = uvicorn.Server(config)

    async def run() -> None:
        try:
            await server.serve()
        finally:
            await naive.http.aclose()  # on the loop that owns its connections

    try:
        asyncio.run(run())
    finally:
        Path(counts_path).write_text(json.dumps(dict(naive.log_counts)))


class NaiveServer:
    """The naive app in a spawned process (its own GIL, like the bot), stopped by SIGTERM."""

    def __init__(self, *, slack_url: str, aicore_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.counts_path = workdir / "naive-log.json"
        # spawn, not fork: forking a process that runs uvicorn threads would copy their locks.
        self.process = multiprocessing.get_context("spawn").Process(
            target=serve_naive,
            args=(slack_url, aicore_url, self.port, str(self.counts_path)),
            name="naive-bolt",
            daemon=True,
        )

    def start(self) -> NaiveServer:
        self.process.start()
        return self

    async def ready(self, client: httpx.AsyncClient, warm: Sequence[Prepared]) -> None:
        """Wait until it answers, have it fetch its AI Core token, then send ``warm``.

        The warm-up requests take Bolt's one-off auth.test and first-call costs out of the
        measurement.
        """
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                (await client.post(f"{self.url}/bench/token")).raise_for_status()
                break
            except httpx.TransportError:
                if not self.process.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the naive app did not start") from None
                await asyncio.sleep(0.05)
        await post_all(client, f"{self.url}/slack/events", warm)

    def stop(self) -> None:
        if self.process.pid is None:
            return  # never started
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)

    def log_counts(self) -> Counter[str]:
        try:
            return Counter(json.loads(self.counts_path.read_text()))
        except (OSError, ValueError):
            return Counter()


# --- the bot (``python -m bot``) ------------------------------------------------------------


class WarningLevelBot(BotProcess):
    """``BotProcess`` for a bot that logs at WARNING.

    ``BotProcess.start`` finds the bot's URL in its INFO line "listening on http://...", which
    LOG_LEVEL=WARNING suppresses. So the port is chosen here and, once ``/healthz`` answers on
    it, that line is added to the collected output for ``start`` to find. WARNING keeps the
    bot's own logging (a write to a pipe per line) out of what is measured.
    """

    def start(self, timeout: float = START_TIMEOUT_S) -> BotProcess:
        port = free_port()
        self.env = {**self.env, "PORT": str(port)}
        started = threading.Event()

        def announce() -> None:
            deadline = time.monotonic() + timeout
            while not started.is_set() and time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
                    self.output.append(f"listening on http://127.0.0.1:{port} (via /healthz)\n")
                    return
                started.wait(0.05)

        watcher = threading.Thread(target=announce, name="bot-announce", daemon=True)
        watcher.start()
        try:
            return super().start(timeout)
        finally:
            started.set()
            watcher.join()


def stop_bot(bot: BotProcess) -> None:
    # SIGTERM, then wait (BotProcess.stop). On Ctrl-C the terminal sent the bot SIGINT too and
    # it may be gone already: stop() is then a no-op and wait() reaps it.
    bot.stop()
    if bot.returncode is not None:
        with contextlib.suppress(Exception):
            bot.wait(timeout=5)


# --- the world ------------------------------------------------------------------------------


@dataclass
class World:
    fake: FakeSlack
    slack_url: str
    sim_url: str
    run_ids: list[str]
    database_url: str
    naive: NaiveServer
    stack: contextlib.ExitStack
    meters: tuple[InFlight, InFlight]  # AI Core simulator, fake Slack
    # Per retired bot: what it logged up to its last measured answer, and after (SIGTERM).
    bot_logs: list[tuple[str, str]] = field(default_factory=list)

    def start_bot(self) -> BotProcess:
        bot = WarningLevelBot(
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": f"{self.slack_url}/api/",
                "AICORE_CLIENT_ID": SIM_CLIENT_ID,
                "AICORE_CLIENT_SECRET": SIM_CLIENT_SECRET,
                "AICORE_AUTH_URL": self.sim_url,  # the bot appends /oauth/token
                "AICORE_BASE_URL": self.sim_url,  # ... and /v2
                # Shared by every bot of the run: the cards' follows outlive a restart.
                "DATABASE_URL": self.database_url,
                "LOG_LEVEL": "WARNING",
            }
        )
        # Registered before start(): a start that fails half-way still gets stopped.
        self.stack.callback(stop_bot, bot)
        bot.start()
        progress(f"bot listening on {bot.url}")
        return bot

    def retire_bot(self, bot: BotProcess) -> None:
        progress("stopping the bot")
        running = len(bot.output)
        stop_bot(bot)
        self.bot_logs.append(("".join(bot.output[:running]), "".join(bot.output[running:])))


@contextlib.contextmanager
def world() -> Iterator[World]:
    """Simulator, fake Slack, naive app; everything stopped on the way out, Ctrl-C included."""
    with contextlib.ExitStack() as stack:
        sim = AICoreSimulator(
            clock=SystemClock(), client_id=SIM_CLIENT_ID, client_secret=SIM_CLIENT_SECRET
        )
        sim.add_configuration(CONFIGURATION, name="bench-train", scenario_id="training")
        run_ids = [
            sim.add_execution(configuration_id=CONFIGURATION, status="RUNNING")
            for _ in range(RUNNING_EXECUTIONS)
        ]
        sim.latency = SIM_LATENCY_S
        # No cap on response_url posts: the bot answering on one is not what is measured,
        # and a refused post would only add warnings.
        fake = FakeSlack(bot_token=BOT_TOKEN, response_url_limit=None)
        meters = (InFlight(sim.app), InFlight(fake.app))
        sim_server = stack.enter_context(ServedApp(meters[0]))
        slack_server = stack.enter_context(ServedApp(meters[1]))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ack-bench-")))
        naive = NaiveServer(slack_url=slack_server.url, aicore_url=sim_server.url, workdir=tmp)
        stack.callback(naive.stop)
        naive.start()
        yield World(
            fake=fake,
            slack_url=slack_server.url,
            sim_url=sim_server.url,
            run_ids=run_ids,
            database_url=f"sqlite:///{tmp / 'chatops.db'}",
            naive=naive,
            stack=stack,
            meters=meters,
        )


def progress(message: str) -> None:
    # Elapsed time on every step: where a slow run spends its time is visible at a glance.
    print(f"[{time.monotonic() - _BEGAN:5.1f} s] {message}", flush=True)


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"warm-up: {what} did not happen within {START_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.02)


async def post_all(client: httpx.AsyncClient, url: str, requests: Sequence[Prepared]) -> None:
    answers = await asyncio.gather(
        *(client.post(url, content=r.body, headers=r.headers) for r in requests)
    )
    for answer in answers:
        answer.raise_for_status()


def cards_in_channel(fake: FakeSlack) -> list[tuple[str, str]]:
    """(ts, Refresh button value) of every card the bot posted in the channel."""
    cards = []
    for message in fake.messages(CHANNEL, include_replies=False):
        refresh = buttons(message.blocks).get(ACTION_REFRESH)
        if refresh is not None:
            cards.append((message.ts, str(refresh["value"])))
    return cards


async def warm_bot(
    client: httpx.AsyncClient, w: World, bot: BotProcess, cards: list[tuple[str, str]] | None
) -> list[tuple[str, str]]:
    """One request of each kind run to the end: token held, code paths and database warm.

    Without ``cards``, ``/aicore watch`` first posts a card per run for the clicks to
    refresh (real messages: ``chat.update`` on anything else fails). Returns the cards.
    """
    url = f"{bot.url}/slack/events"
    status_url = w.fake.response_url(w.slack_url)
    status = signed(
        slash_command_body(
            text=f"status {w.run_ids[0]}", channel_id=CHANNEL, response_url=status_url
        )
    )
    start = signed(
        slash_command_body(
            text=f"start {CONFIGURATION}",
            channel_id=CHANNEL,
            response_url=w.fake.response_url(w.slack_url),
        )
    )
    first = [status, start]
    if cards is None:
        first += [
            signed(
                slash_command_body(
                    text=f"watch {run_id}",
                    channel_id=CHANNEL,
                    response_url=w.fake.response_url(w.slack_url),
                )
            )
            for run_id in w.run_ids
        ]
    # All at once: the first AI Core call fetches the token and the others wait for it.
    await post_all(client, url, first)
    if cards is None:
        await wait_until(lambda: len(cards_in_channel(w.fake)) >= len(w.run_ids), "the cards")
        cards = cards_in_channel(w.fake)
    await post_all(client, url, click_requests(w.fake, w.slack_url, cards, 1))
    # The status answer needs token + AI Core + Slack: proof that the bot is up for real.
    await wait_until(lambda: bool(w.fake.responses_for(status_url)), "the status answer")
    await settle(w.meters)
    return cards


# --- orchestration --------------------------------------------------------------------------


async def run_one(
    client: httpx.AsyncClient,
    label: str,
    url: str,
    requests: Sequence[Prepared],
    load: Load,
    server: str,
    server_pid: int | None,
) -> Result:
    progress(label)
    meter = CpuMeter(server_pid)
    samples = await load(client, f"{url}/slack/events", requests)
    result = Result(label=label, sent=len(requests), samples=samples)
    cpu = meter.read(server)
    if cpu:
        result.notes.append(cpu)
    lag = max((s.lag_ms for s in samples), default=0.0)
    if lag > 5:
        result.notes.append(f"load generator up to {lag:.0f} ms behind its timetable")
    if load is open_loop:
        # When acks degrade says why: AI Core's first answers (and with them the after-ack
        # work) come back SIM_LATENCY_S after the first sends.
        per_second = [
            percentile([x.latency_ms for x in samples[i : i + RATE_PER_S] if x.status], 50)
            for i in range(0, len(samples), RATE_PER_S)
        ]
        result.notes.append(
            "p50 by second of sending: " + " / ".join(f"{v:.0f}" for v in per_second) + " ms"
        )
    return result


async def measure(w: World) -> dict[str, Result]:
    results: dict[str, Result] = {}
    steady_label = f"{RATE_PER_S}/s x{DURATION_S:g}s"
    burst_label = f"{BURST} at once"
    async with new_client() as client:
        progress("starting the bot, warming up (AI Core token, cards, one request per kind)")
        bot = await asyncio.to_thread(w.start_bot)
        # The naive app warms up meanwhile, in its own process; it idles while the bot is
        # measured. Its click needs no real card: it only reads the run the button names.
        run_ref = json.dumps(
            {"p": "aicore", "s": RESOURCE_GROUP, "r": w.run_ids[0]}, separators=(",", ":")
        )
        naive_warm = [
            *command_requests(w.fake, w.slack_url, w.run_ids, 2),
            *click_requests(w.fake, w.slack_url, [("1700000000.000100", run_ref)], 1),
        ]
        naive_ready = asyncio.create_task(w.naive.ready(client, naive_warm))
        cards = await warm_bot(client, w, bot, None)
        await naive_ready
        await settle(w.meters)

        def commands(n: int) -> list[Prepared]:
            return command_requests(w.fake, w.slack_url, w.run_ids, n)

        def clicks(n: int) -> list[Prepared]:
            return click_requests(w.fake, w.slack_url, cards, n)

        # Bursts first, on one bot, each followed by the wait for its after-ack work.
        bot_pid = child_pid("-m bot")
        for kind, make in (("command", commands), ("click", clicks)):
            label = f"bot   {kind:<7} {burst_label}"
            result = await run_one(client, label, bot.url, make(BURST), at_once, "bot", bot_pid)
            result.notes.append(await settle(w.meters))
            results[label] = result
        # 500 requests of after-ack work outlast any sensible wait, so each steady scenario
        # gets a bot of its own (started and warmed up as above) that is stopped after it.
        for kind, make in (("command", commands), ("click", clicks)):
            w.retire_bot(bot)
            bot = await asyncio.to_thread(w.start_bot)
            await warm_bot(client, w, bot, cards)
            label = f"bot   {kind:<7} {steady_label}"
            results[label] = await run_one(
                client, label, bot.url, make(STEADY_N), open_loop, "bot", child_pid("-m bot")
            )
            results[label].notes.append("bot stopped right after (a fresh one for the next)")
        w.retire_bot(bot)  # its after-ack work would compete with the naive app for the CPU
        await settle(w.meters)

        for kind, make in (("command", commands), ("click", clicks)):
            for scenario, load, n in (
                (steady_label, open_loop, STEADY_N),
                (burst_label, at_once, BURST),
            ):
                label = f"naive {kind:<7} {scenario}"
                results[label] = await run_one(
                    client, label, w.naive.url, make(n), load, "naive app", w.naive.process.pid
                )
                # Its handlers may still be waiting on AI Core after Bolt gave up on them.
                await settle(w.meters)
    w.naive.stop()  # now, not at exit: its log counts are written as it stops
    return results


# --- report ---------------------------------------------------------------------------------


def target(label: str, result: Result) -> str:
    if label.startswith("naive"):
        met = percentile(result.answered, 50) > TARGET_NAIVE_P50_MS
        return f"p50 > {TARGET_NAIVE_P50_MS:.0f} ms: {'met' if met else 'MISSED'}"
    limit = TARGET_BURST_P99_MS if "at once" in label else TARGET_STEADY_P99_MS
    # Every request must have got a 200 for a p99 to mean anything.
    met = result.ok == result.sent and percentile(result.answered, 99) < limit
    return f"p99 < {limit:.0f} ms: {'met' if met else 'MISSED'}"


ORDER = [
    f"{who:<5} {kind:<7} {scenario}"
    for who in ("bot", "naive")
    for kind in ("command", "click")
    for scenario in (f"{RATE_PER_S}/s x{DURATION_S:g}s", f"{BURST} at once")
]


def report(results: dict[str, Result], w: World) -> None:
    print()
    print(
        f"machine: {platform.system()} {platform.machine()}, os.cpu_count()={os.cpu_count()}, "
        f"Python {platform.python_version()}; AI Core simulator latency "
        f"{SIM_LATENCY_S:.1f} s per request (SystemClock)"
    )
    if LOAD_AT_START is not None:
        # Anything else running on the machine skews every figure: say how busy it was.
        print(f"load average (1 min) when the run started: {LOAD_AT_START:.2f}")
    print(
        "bot: `python -m bot` subprocess (fresh per steady scenario); naive: Bolt + Starlette "
        "under uvicorn in a subprocess; simulator, fake Slack, load client: this process"
    )
    print()
    print(
        f"{'ack latency (ms)':<27} {'p50':>8} {'p99':>8} {'max':>8} {'ok/sent':>9}"
        f" {'>3s':>5}   target (printed, not asserted)"
    )
    for label in ORDER:
        r = results.get(label)
        if r is None:
            continue
        lat = r.answered
        print(
            f"{label:<27} {percentile(lat, 50):8.1f} {percentile(lat, 99):8.1f} "
            f"{max(lat, default=math.nan):8.1f} {r.ok:>4}/{r.sent:<4} {r.too_slow_for_slack:>5}"
            f"   {target(label, r)}"
        )
    print("(>3s: requests Slack would have given up on: slower than 3 s or never answered)")
    print()
    for label in ORDER:
        r = results.get(label)
        if r is None:
            continue
        statuses = Counter(s.status for s in r.samples if s.status not in (200, None))
        errors = Counter(s.error for s in r.samples if s.error is not None)
        problems = [f"HTTP {code} x{n}" for code, n in sorted(statuses.items())]
        problems += [f"{name} x{n}" for name, n in sorted(errors.items())]
        print(f"{label.strip()}: " + "; ".join([*problems, *r.notes]))
    print()
    print(bot_log_summary("until its last measured answer", "".join(x for x, _ in w.bot_logs)))
    # A bot is stopped right after its last measured answer: its remaining after-ack work
    # logs on, then meets a closed HTTP client at shutdown. Kept apart from the lines above.
    print(
        bot_log_summary("after that (work left over, shutdown)", "".join(x for _, x in w.bot_logs))
    )
    naive_log = w.naive.log_counts()
    if naive_log:
        top = "; ".join(f"{text} x{n}" for text, n in naive_log.most_common(2))
        print(f"naive Bolt log: {top}")


_LOG_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) (\S+): (.*)$")


def bot_log_summary(when: str, log: str) -> str:
    """The bots' warnings and errors, grouped by logger and first words (ids vary)."""
    kinds: Counter[str] = Counter()
    for line in log.splitlines():
        match = _LOG_LINE.match(line)
        if match:
            level, logger, message = match.groups()
            kinds[f"{level} {logger}: {' '.join(message.split()[:5])}"] += 1
    if not kinds:
        return f"bot log {when}: no warnings or errors"
    top = "\n  ".join(f"{n:>5} x {text} ..." for text, n in kinds.most_common(4))
    return f"bot log {when}: {sum(kinds.values())} warnings/errors, most common:\n  {top}"


def main() -> int:
    try:
        with world() as w:
            results = asyncio.run(measure(w))
            report(results, w)
    except KeyboardInterrupt:
        print("\ninterrupted; everything it started was stopped", file=sys.stderr)
        return 130
    print(f"whole run: {time.monotonic() - _BEGAN:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
