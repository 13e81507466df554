"""What the benchmarks share: percentiles, a load client, servers in a child process, tables.

Benchmarks are run by hand and assert nothing: they print their figures beside the targets
and beside a baseline measured in the same run. Compare runs on the same machine only; the
header of each table shows the machine's load when it began.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

# ``python bench/x.py`` puts bench/ on sys.path, not the project root.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest rank: p99 of 100 values is the 99th smallest, never an interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


class ShardedTransport(httpx.AsyncBaseTransport):
    """httpx over several small connection pools, taken in turn.

    httpcore's pool rescans its connections on every request (O(n^2) in the pool size,
    encode/httpcore#1035): with the hundreds of connections a burst needs, one pool makes the
    load client burn a core, and the latency it measures is its own.
    """

    def __init__(self, shards: int = 24, per_shard: int = 25) -> None:
        limits = httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        self._pools = [httpx.AsyncHTTPTransport(limits=limits) for _ in range(shards)]
        self._turn = itertools.cycle(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._turn).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def load_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=ShardedTransport(), timeout=httpx.Timeout(10.0))


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{os.cpu_count()} CPUs, load average {load:.2f} at the start"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (what the issue notes quote)."""
    cells = [[str(h) for h in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in cells
    ]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def rss_peak_mb() -> float:
    """This process's peak resident memory (after :func:`reset_rss_peak`)."""
    with contextlib.suppress(OSError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_rss_peak() -> None:
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


class Fakes:
    """``bench/fakes.py`` in a child process, and its control API."""

    def __init__(self, **options: float) -> None:
        args = [sys.executable, str(ROOT / "bench" / "fakes.py")]
        for name, value in options.items():
            args += [f"--{name}", str(value)]
        self._process = subprocess.Popen(
            args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        urls = json.loads(self._process.stdout.readline())
        self.sim_url: str = urls["sim"]
        self.slack_url: str = urls["slack"]
        self._control = httpx.Client(base_url=f"{urls['sim']}/control", timeout=600)

    def get(self, path: str) -> Any:
        return self._control.get(path.lstrip("/")).json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._control.post(path.lstrip("/"), json=body).json()

    def close(self) -> None:
        self._control.close()
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)

    def bot_env(self, database_url: str, **extra: str) -> dict[str, str]:
        """The environment of a bot process talking to these fakes."""
        return {
            "SLACK_BOT_TOKEN": "xoxb-bench-token",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": f"{self.slack_url}/api/",
            "AICORE_CLIENT_ID": "sim-client",
            "AICORE_CLIENT_SECRET": "sim-secret",
            "AICORE_AUTH_URL": self.sim_url,
            "AICORE_BASE_URL": self.sim_url,
            "DATABASE_URL": database_url,
            **extra,
        }


SIGNING_SECRET = "test-signing-secret-0123456789"
