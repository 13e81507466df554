"""The AI Core simulator's in-memory state, and how its executions show in JSON.

A resource group holds configurations, executions and seeded metric resources. An execution's
status is never stored as such: it is a list of phases on the clock, and :meth:`Execution.current`
reads the one reached at a given moment (see :mod:`bot.providers.aicore.simulator`).
:func:`execution_json` and :func:`status_json` render an execution as the AI API answers it;
:func:`rfc3339` is how the simulator writes a timestamp.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

__all__ = [
    "EXECUTION_STATUSES",
    "TERMINAL",
    "Configuration",
    "Execution",
    "ExecutionFilter",
    "LogLine",
    "MetricResource",
    "Phase",
    "ResourceGroup",
    "execution_json",
    "rfc3339",
    "status_json",
]

EXECUTION_STATUSES: Final = (
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "DEAD",
    "STOPPING",
    "STOPPED",
    "UNKNOWN",
)
TERMINAL: Final = frozenset({"COMPLETED", "DEAD", "STOPPED"})


# --- domain state -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    at: datetime
    status: str
    message: str | None = None


@dataclass
class Configuration:
    id: str
    name: str
    scenario_id: str
    executable_id: str
    outcome: str
    status_message: str | None
    created_at: datetime
    # Its own timing and last log lines, where it has them (the sandbox's demo story).
    pending_seconds: float | None = None
    running_seconds: float | None = None
    last_words: tuple[str, ...] | None = None
    # What AI Core says of its runs while they wait in PENDING (statusDetails).
    pending_details: dict[str, Any] | None = None
    # Its runs write no log line after this long RUNNING (a hang), where set.
    silent_after_seconds: float | None = None
    # (key, value) and (key, artifact id), in the order given; a POST may repeat a key.
    parameters: tuple[tuple[str, str], ...] = ()
    input_artifacts: tuple[tuple[str, str], ...] = ()
    # Its COMPLETED runs write prompt templates (prompt optimizations that beat the base).
    optimized_templates: bool = False
    # The metric series each of its runs logs ({"name", "step", "value"}).
    metrics: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scenarioId": self.scenario_id,
            "executableId": self.executable_id,
            "parameterBindings": [{"key": k, "value": v} for k, v in self.parameters],
            "inputArtifactBindings": [{"key": k, "artifactId": a} for k, a in self.input_artifacts],
            "createdAt": rfc3339(self.created_at),
        }

    def shared_values(self, parameters: Sequence[tuple[str, str]]) -> int:
        """How many of ``parameters`` (key and value) this configuration has too."""
        # dict(): of a key given twice, the last value counts.
        return len(dict(self.parameters).items() & dict(parameters).items())


@dataclass
class LogLine:
    timestamp: datetime
    msg: str
    container: str


@dataclass
class Execution:
    id: str
    configuration: Configuration
    resource_group: str
    created_at: datetime
    phases: list[Phase]
    schedule_id: str | None = None
    target_status: str = "COMPLETED"
    artifact_id: str = field(default_factory=lambda: secrets.token_hex(8))
    manual_logs: list[LogLine] = field(default_factory=list)

    def reached(self, now: datetime) -> list[Phase]:
        # The first phase (creation) always counts, even if a system clock stepped back.
        first, *later = self.phases
        return [first, *(phase for phase in later if phase.at <= now)]

    def current(self, now: datetime) -> Phase:
        # reached(now)[-1] without building the list: listings ask this of every run.
        for phase in reversed(self.phases):
            if phase.at <= now:
                return phase
        return self.phases[0]

    def pin(self, now: datetime, status: str, message: str | None) -> None:
        """Drop the scheduled future and, if anything changes, enter ``status`` now."""
        self.phases = self.reached(now)
        last = self.phases[-1]
        if (last.status, last.message) != (status, message):
            self.phases.append(Phase(now, status, message))

    def schedule_stop(self, now: datetime, stopping_seconds: float) -> None:
        self.pin(now, "STOPPING", None)
        self.phases.append(Phase(now + timedelta(seconds=stopping_seconds), "STOPPED"))
        self.target_status = "STOPPED"


@dataclass
class MetricResource:
    execution_id: str
    created_at: datetime
    modified_at: datetime
    metrics: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    custom_info: list[dict[str, Any]]


@dataclass
class ResourceGroup:
    configurations: dict[str, Configuration] = field(default_factory=dict)
    executions: dict[str, Execution] = field(default_factory=dict)
    metrics: dict[str, MetricResource] = field(default_factory=dict)
    # Test hooks for listings: runs a listing leaves out (as an offset page boundary over a
    # changing, unordered result can), and listings answered with an unreadable body.
    unlisted: set[str] = field(default_factory=set)
    garbled_listings: int = 0
    _ordered: list[Execution] | None = None  # executions in listing order, until one changes

    def ordered(self) -> list[Execution]:
        # The API has no ordering parameter; a stable order makes $skip paging reliable.
        if self._ordered is None:
            self._ordered = sorted(self.executions.values(), key=lambda e: (e.created_at, e.id))
        return self._ordered

    def add(self, execution: Execution) -> None:
        self.executions[execution.id] = execution
        self._ordered = None

    def remove(self, execution_id: str) -> None:
        del self.executions[execution_id]
        self._ordered = None


@dataclass(frozen=True)
class ExecutionFilter:
    status: str | None
    configuration_id: str | None
    scenario_id: str | None
    executable_ids: frozenset[str] | None
    schedule_id: str | None

    def matches(self, execution: Execution, now: datetime) -> bool:
        config = execution.configuration
        checks = (
            (self.status, execution.current(now).status),
            (self.configuration_id, config.id),
            (self.scenario_id, config.scenario_id),
            (self.schedule_id, execution.schedule_id),
        )
        if any(wanted is not None and wanted != actual for wanted, actual in checks):
            return False
        return self.executable_ids is None or config.executable_id in self.executable_ids


# --- rendering --------------------------------------------------------------------------------


def execution_json(execution: Execution, now: datetime) -> dict[str, Any]:
    config = execution.configuration
    reached = execution.reached(now)
    current = reached[-1]
    data: dict[str, Any] = {
        "id": execution.id,
        "configurationId": config.id,
        "configurationName": config.name,
        "scenarioId": config.scenario_id,
        "executableId": config.executable_id,
        "targetStatus": execution.target_status,
        "status": current.status,
        "outputArtifacts": _artifacts(execution, current),
        "createdAt": rfc3339(execution.created_at),
        "modifiedAt": rfc3339(current.at),
    }
    # The spec marks none of these nullable: fields not reached yet are left out.
    optional = {
        "statusMessage": current.message,
        "executionScheduleId": execution.schedule_id,
        "submissionTime": _first_at(reached, lambda p: p.status != "UNKNOWN"),
        "startTime": _first_at(reached, lambda p: p.status == "RUNNING"),
        "completionTime": rfc3339(current.at) if current.status in TERMINAL else None,
    }
    data.update({key: value for key, value in optional.items() if value is not None})
    return data


def status_json(execution: Execution, now: datetime) -> dict[str, Any]:
    # The reduced $select=status shape (as SAP's Python SDK models it); it still carries
    # every field the spec requires of an execution.
    current = execution.current(now)
    return {
        "id": execution.id,
        "configurationId": execution.configuration.id,
        "status": current.status,
        "createdAt": rfc3339(execution.created_at),
        "modifiedAt": rfc3339(current.at),
    }


def _artifacts(execution: Execution, current: Phase) -> list[dict[str, Any]]:
    if current.status != "COMPLETED":
        return []
    stamp = rfc3339(current.at)
    return [
        {
            "name": "model",
            "kind": "model",
            "url": f"ai://{execution.resource_group}/{execution.id}/model",
            "id": execution.artifact_id,
            "scenarioId": execution.configuration.scenario_id,
            "executionId": execution.id,
            "createdAt": stamp,
            "modifiedAt": stamp,
        }
    ]


def _first_at(phases: Sequence[Phase], wanted: Callable[[Phase], bool]) -> str | None:
    return next((rfc3339(p.at) for p in phases if wanted(p)), None)


def rfc3339(moment: datetime) -> str:
    """UTC with a Z; a fraction only when there is one (AI Core sends both forms)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"
