"""Ack latency of ``POST /slack/events`` while AI Core takes 2 s per call, beside a bare Bolt app.

Run by hand from the project root (about 3 minutes; prints one table, asserts nothing)::

    .venv/bin/python bench/ack_latency.py

What it measures
    The time from sending a signed ``/aicore start cfg-bench`` to its HTTP answer, as the
    client sees it: p50, p99 and max over every answer, how many were 200, and how many
    Slack would have given up on (over 3 s, or none). Every AI Core call takes 2 s (the
    simulator waits that long on each request, token included), so the starts pile up
    behind the acknowledgements: hundreds are in flight while the load goes on.

    steady  100 commands a second for 5 s, open loop (sends keep a fixed timetable whatever
            the answers do), spread over 50 channels
    burst   100 commands at once

    Each is measured against fresh processes on a fresh SQLite database, warmed up first:

    bare Bolt                 ``bench/bare_bolt.py``: Bolt behind Starlette and uvicorn as in
                              the bot, one listener that only acks (Bolt's defaults); the floor
    bare Bolt, p.b.r.         the same with ``process_before_response`` (as the bot runs Bolt)
    --role web + worker       the split roles, each its own process, on this machine
    python -m bot             the default: a web and a worker process under one parent
    python -m bot --one-process  both in one process: the shape the default replaced

    The simulator and the fake Slack run in a child process of their own (``bench/fakes.py``)
    and the load comes from this one, so neither shares an interpreter with what is measured.

Targets (printed beside the figures, never asserted): at the steady rate, p99 of the split
web role within 1.2x the bare Bolt app's and of the default within 1.5x; 100 at once under
500 ms p99. Compare runs on the same machine only.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from common import ROOT, SIGNING_SECRET, Fakes, load_client, machine, percentile, table

from tests.support.process import BotProcess
from tests.support.slack_signing import sign, slash_command_body

AICORE_LATENCY_S = 2.0
RATE_PER_S = 100
DURATION_S = 5.0
BURST = 100
CHANNELS = 50
WARM_UP = 20
SLACK_DEADLINE_MS = 3000.0
TARGET_WEB_RATIO = 1.2
TARGET_DEFAULT_RATIO = 1.5
TARGET_BURST_P99_MS = 500.0


@dataclass(frozen=True)
class Sample:
    ms: float
    status: int | None
    recorded: bool = True  # False: the bot answered that it could not record the request


@dataclass
class Result:
    variant: str
    scenario: str
    samples: list[Sample]

    @property
    def answered(self) -> list[float]:
        return [s.ms for s in self.samples if s.status is not None]

    def p(self, pct: float) -> float:
        return percentile(self.answered, pct)


class Running:
    """Processes of one variant; ``url`` is where Slack's requests go."""

    def __init__(self, url: str, stop: Callable[[], None], log: Callable[[], str]) -> None:
        self.url = url
        self.stop = stop
        self.log = log


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bare(process_before_response: bool) -> Callable[[Fakes, Path], Running]:
    def start(fakes: Fakes, _tmp: Path) -> Running:
        port = free_port()
        bare_app = str(ROOT / "bench" / "bare_bolt.py")
        args = [sys.executable, bare_app, str(port), f"{fakes.slack_url}/api/"]
        if process_before_response:
            args.append("--process-before-response")
        process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url)

        def stop() -> None:
            process.terminate()
            process.wait(timeout=15)

        return Running(url, stop, lambda: "")

    return start


def bot(*roles: tuple[str, ...]) -> Callable[[Fakes, Path], Running]:
    def start(fakes: Fakes, tmp: Path) -> Running:
        database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp / 'chatops.db'}"
        env = fakes.bot_env(database_url, LOG_LEVEL="INFO", PORT="0")
        processes = [BotProcess(env, args=args).start(timeout=60) for args in roles]

        def stop() -> None:
            for process in processes:
                process.stop()

        return Running(processes[0].url, stop, lambda: "".join(p.log() for p in processes))

    return start


VARIANTS: list[tuple[str, Callable[[Fakes, Path], Running]]] = [
    ("bare Bolt", bare(False)),
    ("bare Bolt, p.b.r.", bare(True)),
    ("--role web + worker", bot(("--role", "web"), ("--role", "worker"))),
    (
        "--role web alone",
        bot(
            ("--role", "web"),
        ),
    ),
    ("python -m bot", bot(())),
    ("python -m bot --one-process", bot(("--one-process",))),
]


def wait_until_serving(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.post(f"{url}/slack/events", content=b"", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing serves {url}")


def requests(fakes: Fakes, count: int, first: int) -> list[tuple[bytes, dict[str, str]]]:
    """Signed bodies, made before the clock starts (signing is not what is measured)."""
    prepared = []
    for n in range(first, first + count):
        body = slash_command_body(
            text="start cfg-bench",
            channel_id=f"CBENCH{n % CHANNELS:02d}",
            response_url=f"{fakes.slack_url}/response/{n}",
        )
        prepared.append((body, sign(SIGNING_SECRET, body)))
    return prepared


async def send(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]) -> Sample:
    began = time.perf_counter()
    try:
        response = await client.post(f"{url}/slack/events", content=body, headers=headers)
    except httpx.HTTPError:
        return Sample((time.perf_counter() - began) * 1000, None)
    unrecorded = "cannot record" in response.text
    return Sample((time.perf_counter() - began) * 1000, response.status_code, not unrecorded)


async def steady(url: str, prepared: Sequence[tuple[bytes, dict[str, str]]]) -> list[Sample]:
    async with load_client() as client:
        start = time.perf_counter() + 0.05
        tasks = []
        for n, (body, headers) in enumerate(prepared):
            delay = start + n / RATE_PER_S - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(client, url, body, headers)))
        return list(await asyncio.gather(*tasks))


async def burst(url: str, prepared: Sequence[tuple[bytes, dict[str, str]]]) -> list[Sample]:
    async with load_client() as client:
        return list(await asyncio.gather(*(send(client, url, b, h) for b, h in prepared)))


def measure(fakes: Fakes, label: str, start: Callable[[Fakes, Path], Running]) -> list[Result]:
    results = []
    for scenario, count, load in (
        ("steady 100/s", int(RATE_PER_S * DURATION_S), steady),
        ("100 at once", BURST, burst),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            running = start(fakes, Path(tmp))
            try:
                asyncio.run(steady(running.url, requests(fakes, WARM_UP, 0)))
                time.sleep(3)  # the warm-up's starts have had their token and answers
                samples = asyncio.run(load(running.url, requests(fakes, count, 1000)))
            finally:
                running.stop()
                problems = [
                    line
                    for line in running.log().splitlines()
                    if " ERROR " in line or " WARNING " in line
                ]
                if problems:
                    print(f"  {len(problems)} warnings; first: {problems[:3]}", file=sys.stderr)
        results.append(Result(label, scenario, samples))
        print(f"  {label}, {scenario}: p99 {results[-1].p(99):.1f} ms", file=sys.stderr)
    return results


def report(results: list[Result]) -> str:
    floor = {r.scenario: r.p(99) for r in results if r.variant == "bare Bolt"}
    rows = []
    for r in results:
        ratio = r.p(99) / floor[r.scenario] if floor.get(r.scenario) else float("nan")
        target = ""
        if r.scenario.startswith("steady") and r.variant == "--role web + worker":
            target = f"≤ {TARGET_WEB_RATIO}x: {'met' if ratio <= TARGET_WEB_RATIO else 'MISSED'}"
        elif r.scenario.startswith("steady") and r.variant == "python -m bot":
            target = (
                f"≤ {TARGET_DEFAULT_RATIO}x: {'met' if ratio <= TARGET_DEFAULT_RATIO else 'MISSED'}"
            )
        elif r.scenario == "100 at once" and not r.variant.startswith("bare"):
            met = r.p(99) < TARGET_BURST_P99_MS
            target = f"p99 < {TARGET_BURST_P99_MS:.0f} ms: {'met' if met else 'MISSED'}"
        slow = sum(1 for s in r.samples if s.status is None or s.ms > SLACK_DEADLINE_MS)
        ok = sum(1 for s in r.samples if s.status == 200 and s.recorded)
        rows.append(
            [
                r.variant,
                r.scenario,
                r.p(50),
                r.p(99),
                max(r.answered, default=float("nan")),
                f"{ok}/{len(r.samples)}",
                slow,
                f"{ratio:.2f}x",
                target,
            ]
        )
    headers = [
        "variant",
        "load",
        "p50 ms",
        "p99 ms",
        "max ms",
        "200s",
        "> 3 s",
        "p99 / bare",
        "target",
    ]
    return table(headers, rows)


def main() -> None:
    """``python bench/ack_latency.py [words]``: only the variants whose names contain them."""
    header = machine()
    chosen = [v for v in VARIANTS if not sys.argv[1:] or any(w in v[0] for w in sys.argv[1:])]
    fakes = Fakes(latency=AICORE_LATENCY_S)
    try:
        results = [r for label, start in chosen for r in measure(fakes, label, start)]
    finally:
        fakes.close()
    print(f"Ack latency, AI Core answering in {AICORE_LATENCY_S:.0f} s; {header}\n")
    print(report(results))


if __name__ == "__main__":
    main()
