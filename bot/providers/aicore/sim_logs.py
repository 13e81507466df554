"""The log lines of an AI Core simulator execution, and ``GET /lm/executions/{id}/logs``.

Nothing is stored as it happens (statuses are lazy): the lines a run has written by a moment are
derived from the phases it has reached then (an image pull, training steps spread over the
running time, the outcome's last words), merged with the lines a test added by hand.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Final

from starlette.responses import JSONResponse, Response

from bot.providers.aicore.sim_model import Execution, LogLine, Phase, rfc3339
from bot.providers.aicore.sim_requests import bad_request, int_param, time_param

__all__ = ["LOG_WINDOW", "TRAINING_STEPS", "logs_page"]

LOG_WINDOW: Final = timedelta(hours=1)
TRAINING_STEPS: Final = 10


def logs_page(
    execution: Execution, query: Mapping[str, str], now: datetime, running_seconds: float
) -> Response:
    """The logs answer for ``execution`` at ``now``; ``running_seconds`` (the simulator's) spaces
    its training steps."""
    top = int_param(query, "$top", default=1000, minimum=1, maximum=5000)
    end = time_param(query, "end") or now
    # Real default, on purpose: a client that forgets `start` misses older lines.
    start = time_param(query, "start") or now - LOG_WINDOW
    order = query.get("$order", "asc")
    if order not in {"asc", "desc"}:
        raise bad_request("$order must be asc or desc")
    if start > end:
        raise bad_request("start must not be after end")
    written = _log_lines(execution, now, running_seconds)
    lines = [line for line in written if start <= line.timestamp <= end]
    if order == "desc":
        lines.reverse()
    pod = f"{execution.id}-{zlib.crc32(execution.id.encode()):010d}"
    result = [
        {
            "timestamp": rfc3339(line.timestamp),
            "msg": line.msg,
            "container": line.container,
            "pod": pod,
        }
        for line in lines[:top]
    ]
    return JSONResponse({"data": {"result": result}})


def _log_lines(execution: Execution, now: datetime, running_seconds: float) -> list[LogLine]:
    reached = execution.reached(now)
    automatic: list[LogLine] = []
    for index, phase in enumerate(reached):
        ends_at = reached[index + 1].at if index + 1 < len(reached) else None
        automatic.extend(_phase_lines(execution, phase, ends_at, now, running_seconds))
    # sorted() is stable: automatic lines come before manual ones at the same instant,
    # and manual lines keep their insertion order.
    return sorted(automatic + execution.manual_logs, key=lambda line: line.timestamp)


def _phase_lines(
    execution: Execution,
    phase: Phase,
    ends_at: datetime | None,
    now: datetime,
    running_seconds: float,
) -> list[LogLine]:
    config = execution.configuration
    if phase.status == "PENDING":
        text = f"Pulling image for executable '{config.executable_id}'"
        return [LogLine(phase.at, text, "init")]
    if phase.status == "RUNNING":
        return _running_lines(execution, phase.at, ends_at, now, running_seconds)
    if phase.status == "COMPLETED":
        url = f"ai://{execution.resource_group}/{execution.id}/model"
        return [LogLine(phase.at, f"Finished; model saved to {url}", "main")]
    if phase.status == "DEAD":
        return _traceback_lines(phase, config.last_words)
    if phase.status == "STOPPING":
        return [LogLine(phase.at, "Received SIGTERM, stopping", "main")]
    if phase.status == "STOPPED":
        return [LogLine(phase.at, "Execution stopped", "wait")]
    return []  # UNKNOWN: nothing has run, so nothing has logged


def _running_lines(
    execution: Execution,
    started: datetime,
    ends_at: datetime | None,
    now: datetime,
    running_seconds: float,
) -> list[LogLine]:
    config = execution.configuration
    lines = [
        LogLine(
            started,
            f"Starting '{config.executable_id}' of scenario '{config.scenario_id}'",
            "main",
        )
    ]
    # Spread the steps over the configured running time so that they all precede the
    # outcome, and a long-running (pinned) execution keeps logging as the clock moves.
    # Whole milliseconds keep the timestamps readable.
    step_ms = round(running_seconds * 1000 / (TRAINING_STEPS + 1))
    interval = timedelta(milliseconds=step_ms)
    silent = config.silent_after_seconds
    for step in range(1, TRAINING_STEPS + 1):
        at = started + step * interval
        if at > now or (ends_at is not None and at >= ends_at):
            break
        if silent is not None and at > started + timedelta(seconds=silent):
            break  # it hangs: nothing more is written
        loss = 2.0 / (step + 1)
        lines.append(LogLine(at, f"step {step}/{TRAINING_STEPS} loss={loss:.4f}", "main"))
    return lines


def _traceback_lines(phase: Phase, last_words: tuple[str, ...] | None) -> list[LogLine]:
    texts = (
        list(last_words)
        if last_words
        else [
            "Traceback (most recent call last):",
            '  File "/app/train.py", line 87, in <module>',
            "    trainer.fit()",
            f"RuntimeError: {phase.message or 'execution failed'}",
        ]
    )
    # Stamped just before the status change, one microsecond apart, so that paging by
    # timestamp keeps them in order and the last line is the moment the run died.
    last = len(texts) - 1
    return [
        LogLine(phase.at - timedelta(microseconds=last - i), text, "main")
        for i, text in enumerate(texts)
    ]
