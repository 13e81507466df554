"""An in-process stand-in for SAP AI Core's AI API (``/v2/lm/...``) and its token endpoint.

Tests, benchmarks and the local sandbox talk to :class:`AICoreSimulator` over real HTTP
semantics (an ASGI app), so the bot's client code runs unchanged against it.

Behaviour follows the team's reference notes on the AI API (statuses, allowed actions, error
bodies, logs window, bulk rules, meta). Where the notes leave a choice open, the simulator picks
the answer that the published OpenAPI document declares, so that conformance tests can check
it; each such choice is commented where it is made.

Design points:

- No background tasks: an execution's status is derived from the clock at request time, from a
  list of scheduled phases. ``ManualClock.advance`` therefore moves every execution at once,
  and the next call sees it.
- Forcing a status (``set_status``, ``add_execution(status=...)``) drops the scheduled future,
  which "pins" the execution; a stop request schedules STOPPING then STOPPED on the clock.
- A configuration created over HTTP has no outcome of its own to give its executions: it
  borrows one from the most similar configuration (see :meth:`AICoreSimulator.behaviour_source`),
  so that a changed copy of a seeded configuration behaves like the original.
- The prompt registry on the same host (``/v2/lm/promptTemplates...``) lives in
  :mod:`bot.providers.aicore.registry_sim`; it writes a completed prompt optimization's
  templates when it is next read (statuses being lazy), stamped with the completion time.
- Everything is deterministic except generated ids, tokens and request ids.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp

from bot.providers import simkit
from bot.providers.aicore import registry_sim
from bot.providers.simkit import Clock, ManualClock, RecordedRequest, SystemClock

__all__ = [
    "EXECUTION_STATUSES",
    "OUTCOMES",
    "AICoreSimulator",
    "Clock",
    "ManualClock",
    "RecordedRequest",
    "SystemClock",
]

# --- facts about the AI API -------------------------------------------------------------------

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
STOPPABLE: Final = frozenset({"PENDING", "RUNNING"})
# The single-delete page of SAP's docs includes COMPLETED, the bulk pages omit it; we follow
# the single-delete page for both, as the bot does.
DELETABLE: Final = frozenset({"STOPPED", "DEAD", "UNKNOWN", "COMPLETED"})
# Final statuses a configuration's executions reach on their own; the *_FOREVER ones model the
# "stuck" runs that SAP's troubleshooting page describes (missing secrets and the like).
OUTCOMES: Final = frozenset({"COMPLETED", "DEAD", "PENDING_FOREVER", "UNKNOWN_FOREVER"})

API_VERSION: Final = "2.42.0"
API_PREFIX: Final = "/v2"
DOLLAR_OPTIONAL: Final = ("top", "skip", "order", "select", "count", "search")
XSUAA_TOKEN_SECONDS: Final = 43199  # what XSUAA issues for a client-credentials token
TOKEN_PATH: Final = "/oauth/token"
DEFAULT_DEAD_MESSAGE: Final = "Pod OOMKilled"
LOG_WINDOW: Final = timedelta(hours=1)
TRAINING_STEPS: Final = 10
MAX_BULK_ITEMS: Final = 100
MAX_METRICS_IDS: Final = 10
# Limits of a configuration's body and of $search, as the spec declares them.
MAX_BINDINGS: Final = 1000
MAX_NAME_CHARS: Final = 256
MAX_BINDING_KEY_CHARS: Final = 256
MAX_BINDING_VALUE_CHARS: Final = 5000
MAX_SEARCH_CHARS: Final = 80

ID_RULE: Final = r"^[\w.-]{4,64}$"
# ASCII because the spec's pattern is an ECMA regex, where \w means [A-Za-z0-9_]; fullmatch
# because Python's $ also matches before a trailing newline.
_ID = re.compile(r"[\w.-]{4,64}", re.ASCII)
# A configuration name: letters, digits and _ (ASCII, as above), any whitespace (Unicode, as in
# ECMA), and the punctuation below; empty is allowed, 256 characters at most.
NAME_PUNCTUATION: Final = ".!?,;:[](){}<>\"'=+*/\\^&%@~$#|-"
_NAME = re.compile(r"[A-Za-z0-9_\s" + re.escape(NAME_PUNCTUATION) + "]*")
# RFC 3339 as AI Core sends and accepts it: whole seconds or any fraction, Z or an offset.
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE
)

# Error codes. SAP documents none except 01010020 (unknown id in a bulk PATCH, seen in SAP's
# own end-to-end tests); the others are descriptive placeholders, not real AI Core codes.
CODE_EXECUTION_NOT_FOUND: Final = "01010020"
CODE_BAD_REQUEST: Final = "InvalidRequest"
CODE_NOT_FOUND: Final = "NotFound"
CODE_PRECONDITION: Final = "PreconditionFailed"
CODE_UNAUTHORIZED: Final = "Unauthorized"
CODE_UNSUPPORTED_MEDIA: Final = "UnsupportedMediaType"
CODE_METHOD: Final = "MethodNotAllowed"


# --- errors and injected faults ---------------------------------------------------------------


class _ApiError(Exception):
    """Raised by handlers; turned into an AI API error body by the dispatcher."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def _bad_request(message: str) -> _ApiError:
    return _ApiError(400, CODE_BAD_REQUEST, message)


def _injected(fault: simkit.Fault) -> _ApiError:
    """The error an injected fault answers with."""
    phrase = HTTPStatus(fault.status).phrase
    return _ApiError(
        fault.status,
        phrase.replace(" ", ""),
        fault.message or f"Injected fault: {phrase}",
        fault.whole_second_headers,
    )


def _no_route(method: str, path: str, allowed: list[str]) -> _ApiError:
    """404 for an unknown path, 405 (with Allow) for a known path and another method."""
    if allowed:
        message = f"{method} is not allowed on {API_PREFIX}{path}"
        return _ApiError(405, CODE_METHOD, message, {"Allow": ", ".join(allowed)})
    return _ApiError(404, CODE_NOT_FOUND, f"No resource at {API_PREFIX}{path}")


def _fault_reaches(path_prefix: str | None, path: str) -> bool:
    """Whether a fault reaches ``path`` (the full path, ``/v2`` included)."""
    if path_prefix is None:
        # An unscoped fault is meant for the AI API; letting it hit the token endpoint
        # would make "the next call fails" depend on whether the client held a token.
        return path.startswith(API_PREFIX + "/")
    stripped = simkit.strip_prefix(path, API_PREFIX)
    return path.startswith(path_prefix) or stripped.startswith(path_prefix)


# --- domain state -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Phase:
    at: datetime
    status: str
    message: str | None = None


@dataclass
class _Configuration:
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
            "createdAt": _rfc3339(self.created_at),
        }

    def shared_values(self, parameters: Sequence[tuple[str, str]]) -> int:
        """How many of ``parameters`` (key and value) this configuration has too."""
        # dict(): of a key given twice, the last value counts.
        return len(dict(self.parameters).items() & dict(parameters).items())


@dataclass
class _LogLine:
    timestamp: datetime
    msg: str
    container: str


@dataclass
class _Execution:
    id: str
    configuration: _Configuration
    resource_group: str
    created_at: datetime
    phases: list[_Phase]
    schedule_id: str | None = None
    target_status: str = "COMPLETED"
    artifact_id: str = field(default_factory=lambda: secrets.token_hex(8))
    manual_logs: list[_LogLine] = field(default_factory=list)

    def reached(self, now: datetime) -> list[_Phase]:
        # The first phase (creation) always counts, even if a system clock stepped back.
        first, *later = self.phases
        return [first, *(phase for phase in later if phase.at <= now)]

    def current(self, now: datetime) -> _Phase:
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
            self.phases.append(_Phase(now, status, message))

    def schedule_stop(self, now: datetime, stopping_seconds: float) -> None:
        self.pin(now, "STOPPING", None)
        self.phases.append(_Phase(now + timedelta(seconds=stopping_seconds), "STOPPED"))
        self.target_status = "STOPPED"


@dataclass
class _MetricResource:
    execution_id: str
    created_at: datetime
    modified_at: datetime
    metrics: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    custom_info: list[dict[str, Any]]


@dataclass
class _ResourceGroup:
    configurations: dict[str, _Configuration] = field(default_factory=dict)
    executions: dict[str, _Execution] = field(default_factory=dict)
    metrics: dict[str, _MetricResource] = field(default_factory=dict)
    # Test hooks for listings: runs a listing leaves out (as an offset page boundary over a
    # changing, unordered result can), and listings answered with an unreadable body.
    unlisted: set[str] = field(default_factory=set)
    garbled_listings: int = 0
    _ordered: list[_Execution] | None = None  # executions in listing order, until one changes

    def ordered(self) -> list[_Execution]:
        # The API has no ordering parameter; a stable order makes $skip paging reliable.
        if self._ordered is None:
            self._ordered = sorted(self.executions.values(), key=lambda e: (e.created_at, e.id))
        return self._ordered

    def add(self, execution: _Execution) -> None:
        self.executions[execution.id] = execution
        self._ordered = None

    def remove(self, execution_id: str) -> None:
        del self.executions[execution_id]
        self._ordered = None


@dataclass
class _Context(simkit.RequestContext):
    """What a route handler gets: the parsed request and the group it addresses."""

    request_id: str
    group: _ResourceGroup
    group_name: str

    @property
    def query(self) -> Mapping[str, str]:
        # SAP's Python SDK sends top, skip and order without the OData "$": take both.
        query = dict(self.request.query_params)
        for name in DOLLAR_OPTIONAL:
            if f"${name}" not in query and name in query:
                query[f"${name}"] = query.pop(name)
        return query


@dataclass(frozen=True)
class _Route(simkit.Route[_Context]):
    needs_group: bool = True


@dataclass(frozen=True)
class _ExecutionFilter:
    status: str | None
    configuration_id: str | None
    scenario_id: str | None
    executable_ids: frozenset[str] | None
    schedule_id: str | None

    def matches(self, execution: _Execution, now: datetime) -> bool:
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


# --- the simulator ----------------------------------------------------------------------------


class AICoreSimulator:
    """A fake AI Core tenant: token endpoint plus the AI API subset the bot uses.

    ``app`` is the ASGI application; serve it with ``httpx.ASGITransport`` or uvicorn.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        client_id: str = "sim-client",
        client_secret: str = "sim-secret",
        token_ttl: int = XSUAA_TOKEN_SECONDS,
        bulk_updates: bool = True,
        pending_seconds: float = 5.0,
        running_seconds: float = 60.0,
        stopping_seconds: float = 2.0,
        resource_groups: tuple[str, ...] = ("default",),
    ) -> None:
        self.clock: Clock = clock if clock is not None else ManualClock()
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.bulk_updates = bulk_updates
        self.pending_seconds = pending_seconds
        self.running_seconds = running_seconds
        self.stopping_seconds = stopping_seconds
        self.requests: list[RecordedRequest] = []
        self.token_requests = 0
        self.issued_tokens: list[str] = []  # every access token handed out, expired ones too
        self.latency = 0.0
        self._groups = {name: _ResourceGroup() for name in resource_groups}
        self._registry = registry_sim.PromptRegistry(self._groups, self._completed_optimizations)
        self._tokens: dict[str, datetime] = {}
        self._faults = simkit.FaultQueue(_fault_reaches, _injected)
        self._late = simkit.FaultQueue(_fault_reaches, _injected)
        self._routes = simkit.RouteTable(self._build_routes(), _no_route)
        self.app: ASGIApp = simkit.catch_all_app(self._handle)

    # --- seeding and inspection (test API) ----------------------------------------------------

    def add_configuration(
        self,
        config_id: str,
        *,
        name: str | None = None,
        scenario_id: str = "training",
        executable_id: str = "train",
        resource_group: str = "default",
        outcome: str = "COMPLETED",
        status_message: str | None = None,
        pending_seconds: float | None = None,
        running_seconds: float | None = None,
        last_words: tuple[str, ...] | None = None,
        pending_details: dict[str, Any] | None = None,
        silent_after_seconds: float | None = None,
        parameters: Mapping[str, str] | None = None,
        input_artifacts: Mapping[str, str] | None = None,
        optimized_templates: bool | None = None,
        metrics: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Register a configuration; its executions end in ``outcome`` on their own.

        ``status_message`` is the statusMessage they get on reaching the outcome (DEAD defaults
        to "Pod OOMKilled"). ``name`` defaults to the id. ``pending_seconds`` and
        ``running_seconds`` override the simulator's for this configuration's runs;
        ``last_words`` are the log lines a DEAD run writes as it dies (a traceback otherwise);
        ``pending_details`` the ``statusDetails`` its runs carry while PENDING;
        ``silent_after_seconds`` how long its runs log once RUNNING before they hang.
        ``parameters`` (key to value) and ``input_artifacts`` (key to artifact id) are its
        bindings; the parameters also decide which configuration a created one behaves like.
        ``optimized_templates`` (scenario ``genai-optimizations`` only; None means True): a
        COMPLETED run writes one prompt template per target model its bindings name, or none
        when False (it did not beat the base prompt); see ``registry_sim``. ``metrics``
        (``{"name", "step", "value"}`` each; NaN and infinities allowed) is the series that
        every run of it serves from ``GET /lm/metrics`` once it has left PENDING.
        """
        for value in (config_id, scenario_id, executable_id):
            _require_id(value)
        params = tuple((parameters or {}).items())
        artifacts = tuple((input_artifacts or {}).items())
        problem = _bindings_problem(params, artifacts)
        if problem is not None:
            raise ValueError(problem)
        writes = registry_sim.writes_templates(scenario_id, optimized_templates, dict(params))
        series = _metric_series(metrics or ())
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, got {outcome!r}")
        group = self._group(resource_group)
        if config_id in group.configurations:
            raise ValueError(f"configuration {config_id!r} already exists in {resource_group!r}")
        if outcome == "DEAD" and status_message is None:
            status_message = DEFAULT_DEAD_MESSAGE
        group.configurations[config_id] = _Configuration(
            id=config_id,
            name=name if name is not None else config_id,
            scenario_id=scenario_id,
            executable_id=executable_id,
            outcome=outcome,
            status_message=status_message,
            created_at=self.clock.now(),
            pending_seconds=pending_seconds,
            running_seconds=running_seconds,
            last_words=last_words,
            pending_details=pending_details,
            silent_after_seconds=silent_after_seconds,
            parameters=params,
            input_artifacts=artifacts,
            optimized_templates=writes,
            metrics=series,
        )

    def behaviour_source(
        self,
        scenario_id: str,
        executable_id: str,
        parameters: Sequence[tuple[str, str]],
        *,
        resource_group: str = "default",
    ) -> str | None:
        """The id of the configuration a new one with these ids and parameters behaves like.

        A configuration created with ``POST /lm/configurations`` copies the outcome, status
        message, timing, last log lines, metric series and whether it writes optimized prompt
        templates of the group's configuration with the same
        scenarioId and executableId that has the most parameter values (same key, same value)
        in common with it; of several, the newest (latest createdAt, then the last
        registered). None when the group has no configuration of that scenario and
        executable: the new one then behaves by default (COMPLETED on the simulator's timing).
        Real AI Core runs whatever the parameters make the code do; this rule only keeps the
        story of a seeded configuration going when someone changes one value of it.
        """
        source = self._behaviour_source(
            self._group(resource_group), scenario_id, executable_id, parameters
        )
        return source.id if source is not None else None

    def configuration_json(
        self, config_id: str, resource_group: str = "default"
    ) -> dict[str, Any] | None:
        """The configuration as ``GET /lm/configurations/{id}`` shows it, or None if unknown."""
        group = self._groups.get(resource_group)
        config = group.configurations.get(config_id) if group else None
        return config.to_json() if config else None

    def configuration_ids(self, resource_group: str = "default") -> list[str]:
        """Ids of the group's configurations in list order (createdAt, then id)."""
        return [c.id for c in _sorted_configurations(self._group(resource_group))]

    def add_execution(
        self,
        execution_id: str | None = None,
        *,
        configuration_id: str,
        resource_group: str = "default",
        status: str | None = None,
        status_message: str | None = None,
        execution_schedule_id: str | None = None,
    ) -> str:
        """Create an execution as if started outside Slack; returns its id.

        ``status=None`` starts it PENDING now, following the clock; a status pins it there.
        """
        group = self._group(resource_group)
        config = group.configurations.get(configuration_id)
        if config is None:
            raise KeyError(f"no configuration {configuration_id!r} in {resource_group!r}")
        if status is None and status_message is not None:
            raise ValueError("status_message needs an explicit status")
        if status is not None:
            _require_status(status)
        if execution_schedule_id is not None:
            _require_id(execution_schedule_id)
        if execution_id is not None:
            _require_id(execution_id)
            if execution_id in group.executions:
                raise ValueError(f"execution {execution_id!r} already exists")
        execution = self._start(group, config, resource_group, execution_id)
        execution.schedule_id = execution_schedule_id
        if status is not None:
            execution.phases = [_Phase(execution.created_at, status, status_message)]
        return execution.id

    def set_status(
        self,
        execution_id: str,
        status: str,
        *,
        status_message: str | None = None,
        resource_group: str = "default",
    ) -> None:
        """Force a status now; it stays until changed (stop/delete rules still apply)."""
        _require_status(status)
        execution = self._execution(execution_id, resource_group)
        execution.pin(self.clock.now(), status, status_message)
        if status in {"STOPPING", "STOPPED"}:
            execution.target_status = "STOPPED"

    def add_logs(
        self, execution_id: str, lines: list[str], *, resource_group: str = "default"
    ) -> None:
        """Append log lines stamped with the clock's now (ties keep insertion order)."""
        execution = self._execution(execution_id, resource_group)
        now = self.clock.now()
        execution.manual_logs.extend(_LogLine(now, line, "main") for line in lines)

    def set_metrics(
        self,
        execution_id: str,
        metrics: list[dict[str, Any]],
        tags: list[dict[str, Any]] | None = None,
        custom_info: list[dict[str, Any]] | None = None,
        *,
        resource_group: str = "default",
    ) -> None:
        """Seed what ``GET /lm/metrics`` returns for ``execution_id``.

        The execution need not exist (tracking data of child runs is keyed by id only).
        Metrics without a ``timestamp`` get the clock's now.
        """
        _require_id(execution_id)
        group = self._group(resource_group)
        now = self.clock.now()
        stamped = [{"timestamp": _rfc3339(now), **metric} for metric in metrics]
        previous = group.metrics.get(execution_id)
        group.metrics[execution_id] = _MetricResource(
            execution_id=execution_id,
            created_at=previous.created_at if previous else now,
            modified_at=now,
            metrics=stamped,
            tags=list(tags or []),
            custom_info=list(custom_info or []),
        )

    def add_prompt_template(
        self,
        *,
        scenario: str,
        name: str,
        version: str,
        resource_group: str | None = None,
        spec: dict[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> str:
        """Store a prompt template (tenant-wide if ``resource_group`` is None); its UUID.

        ``spec`` defaults to a one-message PromptTemplateSpec, ``created_at`` to now.
        """
        now = self.clock.now()
        self._registry.materialize(now)  # runs completed before it come first
        return self._registry.add(
            scenario=scenario,
            name=name,
            version=version,
            resource_group=resource_group,
            spec=spec,
            created_at=created_at if created_at is not None else now,
        )

    def inject_fault(
        self,
        *,
        status: int,
        method: str | None = None,
        path_prefix: str | None = None,
        times: int = 1,
        retry_after: float | None = None,
        delay: float = 0.0,
        message: str | None = None,
    ) -> None:
        """Make the next ``times`` matching requests fail with ``status`` (0: delay only).

        ``path_prefix`` matches with or without ``/v2``; without it only ``/v2`` calls match
        (the token endpoint is faulted only when named). ``retry_after`` becomes a
        ``Retry-After`` header in seconds (fractions kept, so tests stay fast).
        """
        self._faults.inject(
            status=status,
            method=method,
            path_prefix=path_prefix,
            times=times,
            retry_after=retry_after,
            delay=delay,
            message=message,
        )

    def expire_tokens(self) -> None:
        """Invalidate every token granted so far (to exercise refresh-on-401)."""
        self._tokens.clear()

    def advance(self, seconds: float) -> None:
        """Move a ManualClock forward (convenience for tests holding only the simulator)."""
        simkit.advance_clock(self.clock, seconds)

    def calls(self, method: str, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests with this method (and exactly this path, without ``/v2``)."""
        return simkit.select_calls(self.requests, method, path)

    def clear_faults(self) -> None:
        """Forget every injected fault that has not fired yet (an outage ends)."""
        self._faults.clear()

    def answer_late(
        self,
        *,
        seconds: float,
        method: str | None = None,
        path_prefix: str | None = None,
        times: int = 1,
    ) -> None:
        """Act on the next ``times`` matching requests at once but answer ``seconds`` later
        (AI Core has done it while the caller still waits)."""
        self._late.inject(
            status=0, method=method, path_prefix=path_prefix, times=times, delay=seconds
        )

    def add_resource_group(self, name: str) -> None:
        _require_id(name)
        self._groups.setdefault(name, _ResourceGroup())

    def leave_out_of_listings(self, execution_id: str, resource_group: str = "default") -> None:
        """Listings skip this execution (a GET still finds it): how a run slips between the
        pages of a listing that has no order."""
        self._group(resource_group).unlisted.add(execution_id)

    def garble_listings(self, resource_group: str = "default", *, times: int = 1) -> None:
        """The next ``times`` listings of the group answer 200 with a body that is no list."""
        self._group(resource_group).garbled_listings += times

    def execution_status(self, execution_id: str, resource_group: str = "default") -> str | None:
        """Current status, or None if the execution is deleted or unknown."""
        group = self._groups.get(resource_group)
        execution = group.executions.get(execution_id) if group else None
        return execution.current(self.clock.now()).status if execution else None

    def execution_ids(self, resource_group: str = "default") -> list[str]:
        """Ids of the group's executions in list order (createdAt, then id)."""
        return [e.id for e in _sorted_executions(self._group(resource_group))]

    # --- internals: state -------------------------------------------------------------------

    def _group(self, name: str) -> _ResourceGroup:
        try:
            return self._groups[name]
        except KeyError:
            raise KeyError(f"unknown resource group {name!r}") from None

    def _execution(self, execution_id: str, resource_group: str) -> _Execution:
        execution = self._group(resource_group).executions.get(execution_id)
        if execution is None:
            raise KeyError(f"no execution {execution_id!r} in {resource_group!r}")
        return execution

    def _start(
        self,
        group: _ResourceGroup,
        config: _Configuration,
        group_name: str,
        execution_id: str | None = None,
    ) -> _Execution:
        now = self.clock.now()
        new_id = execution_id or self._new_execution_id(group)
        execution = _Execution(
            id=new_id,
            configuration=config,
            resource_group=group_name,
            created_at=now,
            phases=self._lifecycle(config, now),
        )
        group.add(execution)
        return execution

    def _new_execution_id(self, group: _ResourceGroup) -> str:
        while True:
            candidate = secrets.token_hex(8)  # AI Core ids: 16 lowercase hex characters
            if candidate not in group.executions:
                return candidate

    def _lifecycle(self, config: _Configuration, start: datetime) -> list[_Phase]:
        if config.outcome == "PENDING_FOREVER":
            return [_Phase(start, "PENDING")]
        if config.outcome == "UNKNOWN_FOREVER":
            return [_Phase(start, "UNKNOWN")]
        pending = self.pending_seconds if config.pending_seconds is None else config.pending_seconds
        running = self.running_seconds if config.running_seconds is None else config.running_seconds
        running_at = start + timedelta(seconds=pending)
        done_at = running_at + timedelta(seconds=running)
        return [
            _Phase(start, "PENDING"),
            _Phase(running_at, "RUNNING"),
            _Phase(done_at, config.outcome, config.status_message),
        ]

    # --- internals: HTTP plumbing -----------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        path = request.url.path
        request_id = str(uuid.uuid4())
        if path != TOKEN_PATH:
            recorded_path = simkit.strip_prefix(path, API_PREFIX)
            self.requests.append(RecordedRequest.of(request, recorded_path, body))
        await simkit.pause(self.latency)
        try:
            await self._faults.apply(request.method, path)
            if path == TOKEN_PATH:
                response = self._token(request, body)
            elif path.startswith(API_PREFIX + "/"):
                response = self._dispatch(request, body, request_id)
            else:
                raise _ApiError(404, CODE_NOT_FOUND, f"No resource at {path}")
        except _ApiError as error:
            response = _error_response(error, request_id, path)
        except registry_sim.RegistryError as error:
            response = registry_sim.error_response(
                error.status, error.message, request_id, error.headers
            )
        response.headers["x-request-id"] = request_id
        late = self._late.take(request.method, path)
        if late is not None:
            await simkit.pause(late.delay)  # done already; only the answer is late
        return response

    def _token(self, request: Request, body: bytes) -> Response:
        # XSUAA, not the AI API: errors here use the OAuth2 shape {"error", "error_description"}.
        if request.method != "POST":
            return _oauth_error(405, "method_not_allowed", "Use POST")
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials")
        client_id, secret = _basic_credentials(request) or (
            form.get("client_id"),
            form.get("client_secret"),
        )
        if (client_id, secret) != (self.client_id, self.client_secret):
            return _oauth_error(401, "unauthorized", "Bad credentials")
        token = secrets.token_urlsafe(32)
        self._tokens[token] = self.clock.now() + timedelta(seconds=self.token_ttl)
        self.issued_tokens.append(token)
        self.token_requests += 1
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_ttl,
                "jti": uuid.uuid4().hex,
            }
        )

    def _dispatch(self, request: Request, body: bytes, request_id: str) -> Response:
        self._authenticate(request)
        path = simkit.strip_prefix(request.url.path, API_PREFIX)
        route, params = self._routes.match(request.method, path)
        for name, value in params.items():
            # The registry's UUIDs and versions (such as "1.0") follow rules of their own.
            if not _ID.fullmatch(value) and not registry_sim.serves(path):
                raise _bad_request(f"{name} {value!r} does not match {ID_RULE}")
        group_name, group = self._resolve_group(request, route.needs_group)
        context = _Context(
            request=request,
            body=body,
            now=self.clock.now(),
            params=params,
            request_id=request_id,
            group=group,
            group_name=group_name,
        )
        return route.handler(context)

    def _authenticate(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None or expiry <= self.clock.now():
            raise _ApiError(
                401,
                CODE_UNAUTHORIZED,
                "Missing, invalid or expired bearer token",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )

    def _resolve_group(self, request: Request, needed: bool) -> tuple[str, _ResourceGroup]:
        if not needed:
            # Unscoped endpoints (meta) ignore the header and never look at the group.
            return "", _ResourceGroup()
        name = request.headers.get("ai-resource-group")
        if name is None:
            raise _bad_request("Missing header AI-Resource-Group")
        if name not in self._groups:
            # The spec declares 400, not 404, on these endpoints, so we answer 400.
            raise _bad_request(f"Resource group {name!r} does not exist")
        return name, self._groups[name]

    def _build_routes(self) -> list[_Route]:
        one = r"/lm/executions/(?P<executionId>[^/]+)"
        return [
            _Route("GET", re.compile(r"/lm/meta"), self._meta, needs_group=False),
            _Route("GET", re.compile(r"/lm/executions"), self._list_executions),
            _Route("POST", re.compile(r"/lm/executions"), self._create_execution),
            _Route("PATCH", re.compile(r"/lm/executions"), self._bulk_modify),
            # Before the {executionId} routes: "$count" would otherwise be read as an id.
            _Route("GET", re.compile(r"/lm/executions/\$count"), self._count_executions),
            _Route("GET", re.compile(one), self._get_execution),
            _Route("PATCH", re.compile(one), self._modify_execution),
            _Route("DELETE", re.compile(one), self._delete_execution),
            _Route("GET", re.compile(one + "/logs"), self._logs),
            _Route("GET", re.compile(r"/lm/configurations"), self._list_configurations),
            _Route("POST", re.compile(r"/lm/configurations"), self._create_configuration),
            _Route(
                "GET",
                re.compile(r"/lm/configurations/(?P<configurationId>[^/]+)"),
                self._get_configuration,
            ),
            _Route("GET", re.compile(r"/lm/metrics"), self._metrics),
            # The registry reads its optional resource-group headers itself.
            *(
                _Route(r.method, r.pattern, r.handler, needs_group=False)
                for r in self._registry.routes()
            ),
        ]

    # --- handlers: executions ---------------------------------------------------------------

    def _list_executions(self, ctx: _Context) -> Response:
        selector = _select(ctx.query)
        top = _int_param(ctx.query, "$top", default=10000, minimum=0, maximum=100000)
        skip = _int_param(ctx.query, "$skip", default=0, minimum=0)
        if ctx.group.garbled_listings:
            ctx.group.garbled_listings -= 1
            return JSONResponse({"count": "several", "resources": "see the UI"})
        matching = [e for e in self._filtered(ctx) if e.id not in ctx.group.unlisted]
        page = matching[skip : skip + top]
        render = self._status_json if selector else self._execution_json
        # count is the total of matching executions, not the page size; the spec leaves it
        # open, and a total lets clients page without a separate $count call.
        return JSONResponse(
            {"count": len(matching), "resources": [render(e, ctx.now) for e in page]}
        )

    def _count_executions(self, ctx: _Context) -> Response:
        return PlainTextResponse(str(len(self._filtered(ctx))))

    def _filtered(self, ctx: _Context) -> list[_Execution]:
        wanted = _execution_filter(ctx.query)
        return [e for e in _sorted_executions(ctx.group) if wanted.matches(e, ctx.now)]

    def _create_execution(self, ctx: _Context) -> Response:
        payload = _json_object(ctx.body)
        config_id = payload.get("configurationId")
        if not isinstance(config_id, str) or not _ID.fullmatch(config_id):
            raise _bad_request(f"configurationId is required and must match {ID_RULE}")
        config = ctx.group.configurations.get(config_id)
        if config is None:
            # The spec declares only 400 for this call, so an unknown configuration is a 400.
            raise _bad_request(
                f"Configuration {config_id!r} does not exist in resource group {ctx.group_name!r}"
            )
        execution = self._start(ctx.group, config, ctx.group_name)
        location = f"{ctx.request.url.scheme}://{ctx.request.url.netloc}"
        return JSONResponse(
            {
                "id": execution.id,
                "message": "AiExecution acknowledged",
                "status": execution.current(ctx.now).status,
                "url": f"ai://{ctx.group_name}/{execution.id}",
            },
            status_code=202,
            headers={"Location": f"{location}{API_PREFIX}/lm/executions/{execution.id}"},
        )

    def _get_execution(self, ctx: _Context) -> Response:
        execution = _find(ctx, ctx.params["executionId"])
        if _select(ctx.query):
            data = self._status_json(execution, ctx.now)
        else:
            data = self._execution_json(execution, ctx.now)
        # The spec types statusDetails as a non-nullable object, so it is {} rather than null.
        waiting = execution.current(ctx.now).status == "PENDING"
        details = execution.configuration.pending_details if waiting else None
        data["statusDetails"] = dict(details or {})
        return JSONResponse(data)

    def _modify_execution(self, ctx: _Context) -> Response:
        payload = _json_object(ctx.body)
        if payload.get("targetStatus") != "STOPPED":
            raise _bad_request("targetStatus must be STOPPED (the only supported value)")
        execution = _find(ctx, ctx.params["executionId"])
        error = self._stop(execution, ctx.now)
        if error is not None:
            raise error
        return JSONResponse(
            {"id": execution.id, "message": "Execution modification scheduled"}, status_code=202
        )

    def _delete_execution(self, ctx: _Context) -> Response:
        execution = _find(ctx, ctx.params["executionId"])
        error = self._delete(ctx.group, execution, ctx.now)
        if error is not None:
            raise error
        return JSONResponse(
            {"id": execution.id, "message": "Deletion scheduled", "targetStatus": "DELETED"},
            status_code=202,
        )

    def _bulk_modify(self, ctx: _Context) -> Response:
        if not self.bulk_updates:
            # 400 because that is what the spec declares for this call; meta says why.
            raise _bad_request("Bulk updates of executions are not enabled on this runtime")
        media_type = (ctx.request.headers.get("content-type") or "").split(";")[0].strip()
        if media_type.lower() != "application/merge-patch+json":
            raise _ApiError(
                415, CODE_UNSUPPORTED_MEDIA, "Content-Type must be application/merge-patch+json"
            )
        items = _bulk_items(_json_object(ctx.body))
        results = [self._bulk_item(ctx, item_id, target) for item_id, target in items]
        return JSONResponse({"executions": results}, status_code=202)

    def _bulk_item(self, ctx: _Context, item_id: str, target: str) -> dict[str, Any]:
        execution = ctx.group.executions.get(item_id)
        if execution is None:
            error: _ApiError | None = _ApiError(
                404, CODE_EXECUTION_NOT_FOUND, f"Execution {item_id} not found"
            )
        elif target == "STOPPED":
            error = self._stop(execution, ctx.now)
        else:
            error = self._delete(ctx.group, execution, ctx.now)
        if error is None:
            return {"id": item_id, "message": "Execution modification scheduled"}
        detail = {
            "code": error.code,
            "message": error.message,
            "target": f"/lm/executions/{item_id}",  # SAP's AI SDK needs it to parse the error
            "requestId": ctx.request_id,
        }
        return {"id": item_id, "error": detail}

    def _stop(self, execution: _Execution, now: datetime) -> _ApiError | None:
        status = execution.current(now).status
        if status not in STOPPABLE:
            return _ApiError(
                412,
                CODE_PRECONDITION,
                f"Execution {execution.id} is {status}; only PENDING or RUNNING can be stopped",
            )
        execution.schedule_stop(now, self.stopping_seconds)
        return None

    def _delete(
        self, group: _ResourceGroup, execution: _Execution, now: datetime
    ) -> _ApiError | None:
        status = execution.current(now).status
        if status not in DELETABLE:
            return _ApiError(
                412,
                CODE_PRECONDITION,
                f"Execution {execution.id} is {status}; only STOPPED, DEAD, UNKNOWN or "
                "COMPLETED can be deleted",
            )
        self._registry.materialize(now)  # a deleted run's templates stay written
        group.remove(execution.id)
        return None

    # --- handlers: logs, meta, configurations, metrics --------------------------------------

    def _logs(self, ctx: _Context) -> Response:
        execution = _find(ctx, ctx.params["executionId"])
        top = _int_param(ctx.query, "$top", default=1000, minimum=1, maximum=5000)
        end = _time_param(ctx.query, "end") or ctx.now
        # Real default, on purpose: a client that forgets `start` misses older lines.
        start = _time_param(ctx.query, "start") or ctx.now - LOG_WINDOW
        order = ctx.query.get("$order", "asc")
        if order not in {"asc", "desc"}:
            raise _bad_request("$order must be asc or desc")
        if start > end:
            raise _bad_request("start must not be after end")
        lines = [
            line for line in self._log_lines(execution, ctx.now) if start <= line.timestamp <= end
        ]
        if order == "desc":
            lines.reverse()
        pod = f"{execution.id}-{zlib.crc32(execution.id.encode()):010d}"
        result = [
            {
                "timestamp": _rfc3339(line.timestamp),
                "msg": line.msg,
                "container": line.container,
                "pod": pod,
            }
            for line in lines[:top]
        ]
        return JSONResponse({"data": {"result": result}})

    def _log_lines(self, execution: _Execution, now: datetime) -> list[_LogLine]:
        reached = execution.reached(now)
        automatic: list[_LogLine] = []
        for index, phase in enumerate(reached):
            ends_at = reached[index + 1].at if index + 1 < len(reached) else None
            automatic.extend(self._phase_lines(execution, phase, ends_at, now))
        # sorted() is stable: automatic lines come before manual ones at the same instant,
        # and manual lines keep their insertion order.
        return sorted(automatic + execution.manual_logs, key=lambda line: line.timestamp)

    def _phase_lines(
        self, execution: _Execution, phase: _Phase, ends_at: datetime | None, now: datetime
    ) -> list[_LogLine]:
        config = execution.configuration
        if phase.status == "PENDING":
            text = f"Pulling image for executable '{config.executable_id}'"
            return [_LogLine(phase.at, text, "init")]
        if phase.status == "RUNNING":
            return self._running_lines(execution, phase.at, ends_at, now)
        if phase.status == "COMPLETED":
            url = f"ai://{execution.resource_group}/{execution.id}/model"
            return [_LogLine(phase.at, f"Finished; model saved to {url}", "main")]
        if phase.status == "DEAD":
            return _traceback_lines(phase, config.last_words)
        if phase.status == "STOPPING":
            return [_LogLine(phase.at, "Received SIGTERM, stopping", "main")]
        if phase.status == "STOPPED":
            return [_LogLine(phase.at, "Execution stopped", "wait")]
        return []  # UNKNOWN: nothing has run, so nothing has logged

    def _running_lines(
        self, execution: _Execution, started: datetime, ends_at: datetime | None, now: datetime
    ) -> list[_LogLine]:
        config = execution.configuration
        lines = [
            _LogLine(
                started,
                f"Starting '{config.executable_id}' of scenario '{config.scenario_id}'",
                "main",
            )
        ]
        # Spread the steps over the configured running time so that they all precede the
        # outcome, and a long-running (pinned) execution keeps logging as the clock moves.
        # Whole milliseconds keep the timestamps readable.
        step_ms = round(self.running_seconds * 1000 / (TRAINING_STEPS + 1))
        interval = timedelta(milliseconds=step_ms)
        silent = config.silent_after_seconds
        for step in range(1, TRAINING_STEPS + 1):
            at = started + step * interval
            if at > now or (ends_at is not None and at >= ends_at):
                break
            if silent is not None and at > started + timedelta(seconds=silent):
                break  # it hangs: nothing more is written
            loss = 2.0 / (step + 1)
            lines.append(_LogLine(at, f"step {step}/{TRAINING_STEPS} loss={loss:.4f}", "main"))
        return lines

    def _meta(self, ctx: _Context) -> Response:
        capabilities = {
            "multitenant": True,
            "shareable": True,
            "staticDeployments": True,
            "userDeployments": True,
            "userExecutions": True,
            "timeToLiveDeployments": False,
            "executionSchedules": True,
            "logs": {"executions": True, "deployments": True},
            "bulkUpdates": {"executions": self.bulk_updates, "deployments": False},
        }
        limits = {
            "executions": {"maxRunningCount": -1},
            "deployments": {"maxRunningCount": -1},
            "timeToLiveDeployments": {"minimum": "10m", "maximum": "-1"},
        }
        return JSONResponse(
            {
                "runtimeIdentifier": "aicore",
                "runtimeApiVersion": API_VERSION,
                "description": "SAP AI Core simulator (test double)",
                "aiApi": {"version": API_VERSION, "capabilities": capabilities, "limits": limits},
                "extensions": {},
            }
        )

    def _list_configurations(self, ctx: _Context) -> Response:
        scenario_id = _id_param(ctx.query, "scenarioId")
        executable_ids = _id_list_param(ctx.query, "executableIds")
        top = _int_param(ctx.query, "$top", default=10000, minimum=0, maximum=100000)
        skip = _int_param(ctx.query, "$skip", default=0, minimum=0)
        named = _name_filter(ctx.query)
        matching = [
            c
            for c in _sorted_configurations(ctx.group)
            if (scenario_id is None or c.scenario_id == scenario_id)
            and (executable_ids is None or c.executable_id in executable_ids)
            and named(c.name)
        ]
        page = [c.to_json() for c in matching[skip : skip + top]]
        return JSONResponse({"count": len(matching), "resources": page})

    def _create_configuration(self, ctx: _Context) -> Response:
        name, scenario_id, executable_id, params, artifacts = _configuration_body(
            _json_object(ctx.body)
        )
        source = self._behaviour_source(ctx.group, scenario_id, executable_id, params)
        config_id = self._new_configuration_id(ctx.group)
        ctx.group.configurations[config_id] = _Configuration(
            id=config_id,
            name=name,
            scenario_id=scenario_id,
            executable_id=executable_id,
            outcome=source.outcome if source else "COMPLETED",
            status_message=source.status_message if source else None,
            created_at=ctx.now,
            pending_seconds=source.pending_seconds if source else None,
            running_seconds=source.running_seconds if source else None,
            last_words=source.last_words if source else None,
            parameters=params,
            input_artifacts=artifacts,
            optimized_templates=(
                source.optimized_templates
                if source
                else registry_sim.writes_templates(scenario_id, None, {})
            ),
            metrics=source.metrics if source else (),
        )
        location = f"{ctx.request.url.scheme}://{ctx.request.url.netloc}"
        return JSONResponse(
            {"id": config_id, "message": "Configuration created"},
            status_code=201,
            headers={"Location": f"{location}{API_PREFIX}/lm/configurations/{config_id}"},
        )

    def _behaviour_source(
        self,
        group: _ResourceGroup,
        scenario_id: str,
        executable_id: str,
        parameters: Sequence[tuple[str, str]],
    ) -> _Configuration | None:
        # The rule is documented on behaviour_source. Enumerating keeps registration order as
        # the last tie-break: a ManualClock gives every seeded configuration the same instant.
        candidates = [
            (config.shared_values(parameters), config.created_at, index, config)
            for index, config in enumerate(group.configurations.values())
            if (config.scenario_id, config.executable_id) == (scenario_id, executable_id)
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda c: c[:3])[3]

    def _new_configuration_id(self, group: _ResourceGroup) -> str:
        while True:
            candidate = str(uuid.uuid4())  # AI Core's configuration ids are UUIDs
            if candidate not in group.configurations:
                return candidate

    def _get_configuration(self, ctx: _Context) -> Response:
        config = ctx.group.configurations.get(ctx.params["configurationId"])
        if config is None:
            raise _ApiError(
                404, CODE_NOT_FOUND, f"Configuration {ctx.params['configurationId']} not found"
            )
        return JSONResponse(config.to_json())

    def _metrics(self, ctx: _Context) -> Response:
        ids = _id_list_param(ctx.query, "executionIds")
        tag_filters = _tag_filters(ctx.query.get("tagFilters"))
        if ids is None and not tag_filters:
            raise _bad_request("executionIds or tagFilters is required")
        if ids is not None and len(ids) > MAX_METRICS_IDS:
            raise _bad_request(f"At most {MAX_METRICS_IDS} executionIds per request")
        selected = _metric_selection(ctx.query.get("$select"))
        top = _int_param(ctx.query, "$top", default=1000, minimum=0, maximum=10000)
        skip = _int_param(ctx.query, "$skip", default=0, minimum=0)
        resources = self._metric_resources(ctx.group, ctx.now)
        if ids is not None:
            pool = [resources[i] for i in ids if i in resources]
        else:
            pool = sorted(resources.values(), key=lambda m: (m.created_at, m.execution_id))
        matching = [m for m in pool if all(f(m.tags) for f in tag_filters)]
        page = [_metric_json(m, selected) for m in matching[skip : skip + top]]
        return _JSONWithNaN({"count": len(matching), "resources": page})

    def _metric_resources(self, group: _ResourceGroup, now: datetime) -> dict[str, _MetricResource]:
        """What ``set_metrics`` seeded and, for the other runs that have left PENDING (UNKNOWN,
        where nothing ran, does not count), their configuration's series, stamped then."""
        derived: dict[str, _MetricResource] = {}
        for execution in group.ordered():
            series = execution.configuration.metrics
            if not series or execution.id in group.metrics:
                continue
            phases = execution.reached(now)
            left = next((p.at for p in phases if p.status not in {"PENDING", "UNKNOWN"}), None)
            if left is None:
                continue
            points = [{"timestamp": _rfc3339(left), **point} for point in series]
            derived[execution.id] = _MetricResource(execution.id, left, left, points, [], [])
        return {**derived, **group.metrics}

    # --- prompt optimizations -----------------------------------------------------------------

    def _completed_optimizations(self, now: datetime) -> Iterator[registry_sim.CompletedRun]:
        """Runs that have reached COMPLETED by ``now`` and write templates (the registry keeps
        track of those it has written already). A status pinned later keeps the completion."""
        for group in self._groups.values():
            for execution in group.executions.values():
                if not execution.configuration.optimized_templates:
                    continue
                phases = execution.reached(now)
                done = next((p.at for p in phases if p.status == "COMPLETED"), None)
                if done is not None:
                    yield registry_sim.CompletedRun(
                        execution.id,
                        execution.resource_group,
                        done,
                        dict(execution.configuration.parameters),
                    )

    # --- rendering ----------------------------------------------------------------------------

    def _execution_json(self, execution: _Execution, now: datetime) -> dict[str, Any]:
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
            "outputArtifacts": self._artifacts(execution, current),
            "createdAt": _rfc3339(execution.created_at),
            "modifiedAt": _rfc3339(current.at),
        }
        # The spec marks none of these nullable: fields not reached yet are left out.
        optional = {
            "statusMessage": current.message,
            "executionScheduleId": execution.schedule_id,
            "submissionTime": _first_at(reached, lambda p: p.status != "UNKNOWN"),
            "startTime": _first_at(reached, lambda p: p.status == "RUNNING"),
            "completionTime": _rfc3339(current.at) if current.status in TERMINAL else None,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        return data

    def _status_json(self, execution: _Execution, now: datetime) -> dict[str, Any]:
        # The reduced $select=status shape (as SAP's Python SDK models it); it still carries
        # every field the spec requires of an execution.
        current = execution.current(now)
        return {
            "id": execution.id,
            "configurationId": execution.configuration.id,
            "status": current.status,
            "createdAt": _rfc3339(execution.created_at),
            "modifiedAt": _rfc3339(current.at),
        }

    def _artifacts(self, execution: _Execution, current: _Phase) -> list[dict[str, Any]]:
        if current.status != "COMPLETED":
            return []
        stamp = _rfc3339(current.at)
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


# --- helpers ----------------------------------------------------------------------------------


def _rfc3339(moment: datetime) -> str:
    """UTC with a Z; a fraction only when there is one (AI Core sends both forms)."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def _parse_rfc3339(text: str) -> datetime | None:
    found = _RFC3339.fullmatch(text.strip())
    if found is None:
        return None
    whole, fraction, zone = found.groups()
    # Python keeps microseconds; AI Core may send nanoseconds.
    micro = f".{(fraction or '0')[:6]:0<6}"
    zone = "+00:00" if zone.upper() == "Z" else zone
    try:
        return datetime.fromisoformat(whole + micro + zone).astimezone(UTC)
    except ValueError:
        return None


def _error_response(error: _ApiError, request_id: str, path: str) -> Response:
    if path.startswith(API_PREFIX + "/") and registry_sim.serves(
        simkit.strip_prefix(path, API_PREFIX)
    ):
        # Token, routing and fault errors on the registry's paths come in its own shape.
        return registry_sim.error_response(error.status, error.message, request_id, error.headers)
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "requestId": request_id,
            "target": path,
        }
    }
    return JSONResponse(body, status_code=error.status, headers=error.headers)


class _JSONWithNaN(JSONResponse):
    """JSON as Python's ``json`` writes it: NaN, Infinity and -Infinity (Starlette refuses them).

    The spec types a metric value as a plain number; whether and how the real service encodes
    NaN or infinities is unknown. These tokens are what ``json.loads`` (and so httpx) reads.
    """

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _metric_series(points: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """A configuration's metric series, checked (ValueError) and copied."""
    series = []
    for point in points:
        name, step, value = point.get("name"), point.get("step"), point.get("value")
        if (
            set(point) - {"name", "step", "value", "labels"}
            or not isinstance(name, str)
            or not name
            or not isinstance(step, int)
            or isinstance(step, bool)
            or step < 0
            or not isinstance(value, int | float)
            or isinstance(value, bool)
        ):
            raise ValueError(f"a metric needs name (str), step (int >= 0) and value, got {point}")
        series.append({**point, "value": float(value)})
    return tuple(series)


def _oauth_error(status: int, error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    # RFC 6749 §2.3.1: id and secret are form-encoded before going into Basic auth.
    return unquote_plus(client_id), unquote_plus(secret)


def _require_id(value: str) -> None:
    if not _ID.fullmatch(value):
        raise ValueError(f"{value!r} does not match {ID_RULE}")


def _require_status(status: str) -> None:
    if status not in EXECUTION_STATUSES:
        raise ValueError(f"status must be one of {EXECUTION_STATUSES}, got {status!r}")


def _sorted_executions(group: _ResourceGroup) -> list[_Execution]:
    return group.ordered()


def _sorted_configurations(group: _ResourceGroup) -> list[_Configuration]:
    return sorted(group.configurations.values(), key=lambda c: (c.created_at, c.id))


def _name_filter(query: Mapping[str, str]) -> Callable[[str], bool]:
    """``$search`` (a substring of the name) and ``searchCaseInsensitive``, as a predicate."""
    search = query.get("$search")
    flag = query.get("searchCaseInsensitive", "false").lower()
    if flag not in {"true", "false"}:
        raise _bad_request("searchCaseInsensitive must be true or false")
    if search is None:
        return lambda _name: True
    if not 1 <= len(search) <= MAX_SEARCH_CHARS or "~" in search:
        raise _bad_request(f"$search must be 1 to {MAX_SEARCH_CHARS} characters other than '~'")
    if flag == "true":
        folded = search.casefold()
        return lambda name: folded in name.casefold()
    return lambda name: search in name


def _configuration_body(
    payload: dict[str, Any],
) -> tuple[str, str, str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Name, scenario, executable, parameters and artifacts of a POST, checked as the spec
    checks them; 400 otherwise."""
    name = payload.get("name")
    if not isinstance(name, str):
        raise _bad_request("name is required and must be a string")
    if len(name) > MAX_NAME_CHARS or not _NAME.fullmatch(name):
        raise _bad_request(
            f"name must be at most {MAX_NAME_CHARS} letters, digits, _, whitespace or "
            f"{NAME_PUNCTUATION}"
        )
    ids = []
    for field_name in ("scenarioId", "executableId"):
        value = payload.get(field_name)
        if not isinstance(value, str) or not _ID.fullmatch(value):
            raise _bad_request(f"{field_name} is required and must match {ID_RULE}")
        ids.append(value)
    params = _binding_list(payload, "parameterBindings", "value")
    artifacts = _binding_list(payload, "inputArtifactBindings", "artifactId")
    problem = _bindings_problem(params, artifacts)
    if problem is not None:
        raise _bad_request(problem)
    return name, ids[0], ids[1], params, artifacts


def _binding_list(
    payload: dict[str, Any], field_name: str, value_name: str
) -> tuple[tuple[str, str], ...]:
    """The (key, value) pairs of an optional binding list; its shape checked, not its limits."""
    items = payload.get(field_name, [])
    if not isinstance(items, list):
        raise _bad_request(f"{field_name} must be a list")
    pairs = []
    for item in items:
        key = item.get("key") if isinstance(item, dict) else None
        value = item.get(value_name) if isinstance(item, dict) else None
        if not isinstance(key, str) or not isinstance(value, str):
            raise _bad_request(f"each item of {field_name} needs string key and {value_name}")
        pairs.append((key, value))
    return tuple(pairs)


def _bindings_problem(
    params: Sequence[tuple[str, str]], artifacts: Sequence[tuple[str, str]]
) -> str | None:
    """What the spec refuses in a configuration's bindings, or None."""
    for field_name, pairs in (("parameterBindings", params), ("inputArtifactBindings", artifacts)):
        if len(pairs) > MAX_BINDINGS:
            return f"{field_name} must have at most {MAX_BINDINGS} items"
        for key, _ in pairs:
            if len(key) > MAX_BINDING_KEY_CHARS:
                return f"{field_name}: a key must be at most {MAX_BINDING_KEY_CHARS} characters"
    for key, value in params:
        if len(value) > MAX_BINDING_VALUE_CHARS:
            return f"parameterBindings: the value of {key!r} exceeds {MAX_BINDING_VALUE_CHARS}"
    for key, artifact_id in artifacts:
        if not _ID.fullmatch(artifact_id):
            return f"inputArtifactBindings: artifactId of {key!r} must match {ID_RULE}"
    return None


def _find(ctx: _Context, execution_id: str) -> _Execution:
    execution = ctx.group.executions.get(execution_id)
    if execution is None:
        raise _ApiError(
            404,
            CODE_NOT_FOUND,
            f"Execution {execution_id} not found in resource group {ctx.group_name}",
        )
    return execution


def _first_at(phases: Sequence[_Phase], wanted: Callable[[_Phase], bool]) -> str | None:
    return next((_rfc3339(p.at) for p in phases if wanted(p)), None)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _bad_request("Request body must be JSON") from None
    if not isinstance(payload, dict):
        raise _bad_request("Request body must be a JSON object")
    return payload


def _int_param(
    query: Mapping[str, str],
    name: str,
    *,
    default: int,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_request(f"{name} must be an integer, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _bad_request(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _time_param(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None:
        return None
    parsed = _parse_rfc3339(raw)
    if parsed is None:
        raise _bad_request(
            f"{name} must be an RFC 3339 date-time (send '+' in an offset as %2B), got {raw!r}"
        )
    return parsed


def _id_param(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is not None and not _ID.fullmatch(value):
        raise _bad_request(f"{name} {value!r} does not match {ID_RULE}")
    return value


def _id_list_param(query: Mapping[str, str], name: str) -> list[str] | None:
    """A comma-joined id list (``style: form, explode: false``), de-duplicated, in order."""
    raw = query.get(name)
    if raw is None:
        return None
    values = [value.strip() for value in raw.split(",") if value.strip()]
    for value in values:
        if not _ID.fullmatch(value):
            raise _bad_request(f"{name} item {value!r} does not match {ID_RULE}")
    return list(dict.fromkeys(values))


def _select(query: Mapping[str, str]) -> bool:
    value = query.get("$select")
    if value is None:
        return False
    if value != "status":
        raise _bad_request("$select supports only 'status'")
    return True


def _execution_filter(query: Mapping[str, str]) -> _ExecutionFilter:
    status = query.get("status")
    if status is not None and status not in EXECUTION_STATUSES:
        raise _bad_request(f"status must be one of {', '.join(EXECUTION_STATUSES)}")
    executable_ids = _id_list_param(query, "executableIds")
    return _ExecutionFilter(
        status=status,
        configuration_id=_id_param(query, "configurationId"),
        scenario_id=_id_param(query, "scenarioId"),
        executable_ids=frozenset(executable_ids) if executable_ids is not None else None,
        schedule_id=_id_param(query, "executionScheduleId"),
    )


def _bulk_items(payload: dict[str, Any]) -> list[tuple[str, str]]:
    items = payload.get("executions")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BULK_ITEMS:
        raise _bad_request(f"executions must be a list of 1 to {MAX_BULK_ITEMS} items")
    parsed: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, dict):
            raise _bad_request("each item of executions must be an object")
        item_id, target = item.get("id"), item.get("targetStatus")
        if not isinstance(item_id, str) or not _ID.fullmatch(item_id):
            raise _bad_request(f"item id {item_id!r} does not match {ID_RULE}")
        if target not in {"STOPPED", "DELETED"}:
            raise _bad_request(f"item {item_id}: targetStatus must be STOPPED or DELETED")
        parsed.append((item_id, str(target)))
    # The spec asks for unique items; we also refuse one id twice with different targets,
    # whose outcome would depend on processing order.
    if len({item_id for item_id, _ in parsed}) != len(parsed):
        raise _bad_request("executions must not name the same id twice")
    return parsed


def _traceback_lines(phase: _Phase, last_words: tuple[str, ...] | None) -> list[_LogLine]:
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
        _LogLine(phase.at - timedelta(microseconds=last - i), text, "main")
        for i, text in enumerate(texts)
    ]


_MetricFilter = Callable[[list[dict[str, Any]]], bool]


def _tag_filters(raw: str | None) -> list[_MetricFilter]:
    """``name=value``, ``name!=value`` and bare ``name`` expressions, AND-ed."""
    if not raw:
        return []
    return [_tag_filter(expression.strip()) for expression in raw.split(",") if expression.strip()]


def _tag_filter(expression: str) -> _MetricFilter:
    negate = "!=" in expression
    name, _, value = expression.partition("!=" if negate else "=")
    if not name:
        raise _bad_request(f"Malformed tag filter {expression!r}")
    has_value = "=" in expression

    def matches(tags: list[dict[str, Any]]) -> bool:
        found = any(
            t.get("name") == name and (not has_value or t.get("value") == value) for t in tags
        )
        return not found if negate else found

    return matches


def _metric_selection(raw: str | None) -> frozenset[str] | None:
    if raw is None:
        return None
    chosen = frozenset(part.strip() for part in raw.split(",") if part.strip())
    unknown = chosen - {"metrics", "tags", "customInfo", "*"}
    if unknown:
        raise _bad_request(
            f"$select supports metrics, tags, customInfo or *, got {sorted(unknown)}"
        )
    return None if "*" in chosen else chosen


def _metric_json(resource: _MetricResource, selected: frozenset[str] | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "executionId": resource.execution_id,
        "createdAt": _rfc3339(resource.created_at),
        "modifiedAt": _rfc3339(resource.modified_at),
    }
    parts = {"metrics": resource.metrics, "tags": resource.tags, "customInfo": resource.custom_info}
    data.update({k: v for k, v in parts.items() if selected is None or k in selected})
    return data
