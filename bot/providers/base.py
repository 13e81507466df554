"""What every provider (AI Core, Bria, ...) offers the rest of the bot.

Each provider maps its own status words onto one shared :class:`Lifecycle`; cards show the
provider's word, while rules and alerts work on the lifecycle. Adding a provider means adding
one package that implements :class:`Provider`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from bot.blocks import Style

Action = Literal["stop", "delete"]
# A run's metrics by name, each a series of (step, value) in step order.
MetricSeries = dict[str, list[tuple[float, float]]]


class Lifecycle(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPING = "stopping"
    STOPPED = "stopped"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in (Lifecycle.SUCCEEDED, Lifecycle.FAILED, Lifecycle.STOPPED)


@dataclass(frozen=True)
class Run:
    """One execution or training run, as a card and the rules need it."""

    provider: str
    scope: str  # AI Core resource group; for Bria the account ("bria")
    id: str
    status: str  # the provider's own word, shown to users
    lifecycle: Lifecycle
    title: str | None = None  # configuration or model name
    target_id: str | None = None  # configuration id / model id the run was started from
    scenario: str | None = None
    status_message: str | None = None
    created_at: datetime | None = None
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    modified_at: datetime | None = None
    details: tuple[tuple[str, str], ...] = ()  # extra (label, value) pairs for the card
    # The provider's own record (a pydantic model); ``raw`` is its JSON form, made only when
    # needed: the poller lists thousands of runs a cycle and stores few of them.
    source: BaseModel | None = field(default=None, compare=False, repr=False)

    @functools.cached_property
    def raw(self) -> dict[str, Any]:
        if self.source is None:
            return {}
        return self.source.model_dump(mode="json", by_alias=True)


@dataclass(frozen=True)
class Listing:
    """One scope's runs as a poll cycle lists them.

    ``runs`` holds the runs in the statuses the provider lists per cycle (the active ones, or
    all of them when ``complete``). ``full`` says whether they are whole records; otherwise
    (AI Core's ``$select=status``) a card needs a GET of the run. ``total`` is how many runs
    the scope holds in every status, when asked for and cheap.
    """

    runs: dict[str, Run]
    complete: bool = False
    full: bool = False
    total: int | None = None


@dataclass(frozen=True)
class Target:
    """What a run is started from: an AI Core configuration, a Bria model.

    ``parameters`` are the values a run of it gets (AI Core's parameter bindings), in the
    provider's order; ``artifacts`` its input artifact bindings (key, artifact ID).
    """

    provider: str
    scope: str
    id: str
    name: str
    scenario: str | None = None
    executable: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()
    artifacts: tuple[tuple[str, str], ...] = ()
    created_at: datetime | None = None

    def parameter(self, key: str) -> str | None:
        return next((value for name, value in self.parameters if name == key), None)


@dataclass(frozen=True)
class Targets:
    """A search's answer: the targets found (newest first), and how many matched in all."""

    found: list[Target]
    total: int


@dataclass(frozen=True)
class LogEntry:
    timestamp: datetime | None
    message: str


@dataclass(frozen=True)
class Outcome:
    """What happened to one run of a stop/delete request."""

    run_id: str
    ok: bool
    message: str
    code: str | None = None
    request_id: str | None = None


class Provider(Protocol):
    name: str  # "aicore"
    label: str  # "AI Core"
    command: str  # "/aicore"

    @property
    def style(self) -> Style:
        """How its runs read on cards and in refusals."""
        ...

    def lifecycle_of(self, status: str) -> Lifecycle: ...

    def allows(self, status: str, action: Action) -> bool: ...

    def run_from_snapshot(self, scope: str, snapshot: dict[str, Any]) -> Run:
        """Rebuild a run from ``Run.raw`` as stored by the poller (cards render from it)."""
        ...

    async def get(self, scope: str, run_id: str) -> Run: ...

    async def list_runs(self, scope: str, *, status: str | None = None) -> list[Run]: ...

    async def list_active(self, scope: str, *, with_total: bool) -> Listing:
        """The runs a poll cycle compares: a cost that follows the active runs."""
        ...

    async def list_created_since(self, scope: str, since: datetime) -> list[Run]:
        """Every run created since ``since``, in any status (a sweep, for subscriptions)."""
        ...

    async def start(self, scope: str, target: str, params: Mapping[str, str]) -> Run: ...

    # -- what runs are started from -----------------------------------------------------------

    @property
    def can_derive(self) -> bool:
        """Whether a run can be started with other parameter values (a copy of its target)."""
        ...

    async def get_target(self, scope: str, target_id: str) -> Target:
        """One target by ID; NotFoundError when the scope has none."""
        ...

    async def find_targets(self, scope: str, text: str | None, *, limit: int) -> Targets:
        """Targets whose name contains ``text`` (any case; all of them for None), newest
        first, at most ``limit``."""
        ...

    async def derive_target(
        self, scope: str, base: Target, parameters: Sequence[tuple[str, str]], *, name: str
    ) -> Target:
        """A new target like ``base`` with these parameter values (not idempotent)."""
        ...

    async def find_started(self, scope: str, target: str, since: datetime) -> list[Run]:
        """The runs of ``target`` a start sent at ``since`` may have created, oldest first."""
        ...

    async def stop(self, scope: str, run_ids: Sequence[str]) -> list[Outcome]: ...

    async def delete(self, scope: str, run_ids: Sequence[str]) -> list[Outcome]: ...

    async def tail_logs(self, run: Run, lines: int) -> list[LogEntry]: ...

    async def newest_log_at(self, run: Run) -> datetime | None:
        """When the run last wrote a log line (one cheap call); None if it wrote none."""
        ...

    def has_results(self, run: Run) -> bool:
        """Whether a finished run has results worth a summary in its thread."""
        ...

    async def results_summary(self, run: Run) -> str:
        """That summary, in Slack mrkdwn (may call the provider)."""
        ...

    async def metric_series(self, run: Run) -> MetricSeries:
        """The run's metrics as series of (step, value), by metric name; {} when none."""
        ...

    async def logs_page(
        self, run: Run, *, before: datetime | None, lines: int
    ) -> list[LogEntry]: ...
