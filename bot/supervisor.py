"""``python -m bot`` (role ``all``): a web process and a worker process under one parent.

Why two processes: the acknowledgement must stay as fast as a bare Bolt app's while hundreds
of starts are in flight. In one process the work after the acks (provider calls, cards,
polling) competes with the ack path for the interpreter (the GIL), and the acks slow down
as the work grows (``bench/ack_latency.py`` measures both shapes). Two processes share only
the database, exactly like ``--role web`` and ``--role worker`` on separate machines.

The parent starts both, forwards SIGTERM and SIGINT to them, restarts one that crashed (after
1, 2, 4 ... 30 s; a child that cannot start at all, exit code 2, stops everything), and exits
when both have. Each child dies with the parent (``PR_SET_PDEATHSIG`` on Linux; elsewhere it
watches its parent's pid), so SIGKILL of the parent takes the whole group down like a pod.
Metrics of both children are served together through ``prometheus_client``'s multiprocess
mode.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger("bot")

ROLES = ("web", "worker")
STOP_GRACE_SECONDS = 12.0  # a child's own shutdown takes under 10 s
MAX_RESTART_PAUSE_SECONDS = 30.0
CONFIG_ERROR = 2
PR_SET_PDEATHSIG = 1
PARENT_ENV = "CHATOPS_PARENT_PID"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the child watches its parent's pid instead


@dataclass
class _Child:
    role: str
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    exit_code: int | None = None
    history: list[float] = field(default_factory=list)


class Supervisor:
    def __init__(self, extra_args: list[str] | None = None) -> None:
        self.extra_args = extra_args or []
        self.children = [_Child(role) for role in ROLES]
        self.stopping = False
        self.stop_deadline = 0.0
        self.metrics_dir = tempfile.mkdtemp(prefix="chatops-metrics-")

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        try:
            for child in self.children:
                self._start(child)
            return self._watch()
        finally:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping:
            return
        log.info("shutting down (signal %d)", signum)
        self.stopping = True
        self.stop_deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)

    def _start(self, child: _Child) -> None:
        env = dict(os.environ)
        env["PROMETHEUS_MULTIPROC_DIR"] = self.metrics_dir
        env[PARENT_ENV] = str(os.getpid())
        args = [sys.executable, "-m", "bot", "--role", child.role, "--child", *self.extra_args]
        child.process = subprocess.Popen(
            args, env=env, preexec_fn=_die_with_parent
        )  # the parent runs no threads
        child.history.append(time.monotonic())

    def _watch(self) -> int:
        worst = 0
        while True:
            alive = 0
            for child in self.children:
                process = child.process
                if process is None:
                    if not self.stopping and time.monotonic() >= child.next_start:
                        self._start(child)
                        alive += 1
                    continue
                code = process.poll()
                if code is None:
                    alive += 1
                    continue
                child.process = None
                self._mark_dead(process.pid)
                if self.stopping:
                    worst = max(worst, abs(code))
                    continue
                if code == CONFIG_ERROR:
                    log.error("the %s process cannot start; stopping", child.role)
                    self._on_signal(signal.SIGTERM, None)
                    worst = CONFIG_ERROR
                    continue
                pause = min(MAX_RESTART_PAUSE_SECONDS, 2.0 ** min(child.restarts, 5))
                child.restarts += 1
                child.next_start = time.monotonic() + pause
                log.error(
                    "the %s process exited (code %s); starting it again in %.0f s",
                    child.role,
                    code,
                    pause,
                )
            if self.stopping and alive == 0:
                return worst
            if self.stopping and time.monotonic() > self.stop_deadline:
                self._kill_the_rest()
            time.sleep(0.1)

    def _kill_the_rest(self) -> None:
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                log.warning("the %s process did not stop in time; killing it", child.role)
                child.process.kill()

    def _mark_dead(self, pid: int) -> None:
        try:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]
        except (ImportError, OSError):
            pass
