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

This module holds the simulator's test API, its HTTP plumbing and its route handlers. The
state they work on is in :mod:`~bot.providers.aicore.sim_model`; parsing requests and
answering errors in :mod:`~bot.providers.aicore.sim_requests`; a run's log lines in
:mod:`~bot.providers.aicore.sim_logs` and its tracked metrics in
:mod:`~bot.providers.aicore.sim_metrics`.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp

from bot.providers import simkit
from bot.providers.aicore import registry_sim
from bot.providers.aicore.sim_logs import logs_page
from bot.providers.aicore.sim_metrics import metric_series, metrics_page
from bot.providers.aicore.sim_model import (
    EXECUTION_STATUSES,
    Configuration,
    Execution,
    LogLine,
    MetricResource,
    Phase,
    ResourceGroup,
    execution_json,
    rfc3339,
    status_json,
)
from bot.providers.aicore.sim_requests import (
    API_PREFIX,
    CODE_EXECUTION_NOT_FOUND,
    CODE_NOT_FOUND,
    CODE_PRECONDITION,
    CODE_UNAUTHORIZED,
    CODE_UNSUPPORTED_MEDIA,
    ID,
    ID_RULE,
    ApiError,
    bad_request,
    basic_credentials,
    bindings_problem,
    bulk_items,
    configuration_body,
    error_response,
    execution_filter,
    id_list_param,
    id_param,
    injected,
    int_param,
    json_object,
    name_filter,
    no_route,
    oauth_error,
    select,
)
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

STOPPABLE: Final = frozenset({"PENDING", "RUNNING"})
# The single-delete page of SAP's docs includes COMPLETED, the bulk pages omit it; we follow
# the single-delete page for both, as the bot does.
DELETABLE: Final = frozenset({"STOPPED", "DEAD", "UNKNOWN", "COMPLETED"})
# Final statuses a configuration's executions reach on their own; the *_FOREVER ones model the
# "stuck" runs that SAP's troubleshooting page describes (missing secrets and the like).
OUTCOMES: Final = frozenset({"COMPLETED", "DEAD", "PENDING_FOREVER", "UNKNOWN_FOREVER"})

API_VERSION: Final = "2.42.0"
DOLLAR_OPTIONAL: Final = ("top", "skip", "order", "select", "count", "search")
XSUAA_TOKEN_SECONDS: Final = 43199  # what XSUAA issues for a client-credentials token
TOKEN_PATH: Final = "/oauth/token"
DEFAULT_DEAD_MESSAGE: Final = "Pod OOMKilled"


def _fault_reaches(path_prefix: str | None, path: str) -> bool:
    """Whether a fault reaches ``path`` (the full path, ``/v2`` included)."""
    if path_prefix is None:
        # An unscoped fault is meant for the AI API; letting it hit the token endpoint
        # would make "the next call fails" depend on whether the client held a token.
        return path.startswith(API_PREFIX + "/")
    stripped = simkit.strip_prefix(path, API_PREFIX)
    return path.startswith(path_prefix) or stripped.startswith(path_prefix)


# --- routing ----------------------------------------------------------------------------------


@dataclass
class _Context(simkit.RequestContext):
    """What a route handler gets: the parsed request and the group it addresses."""

    request_id: str
    group: ResourceGroup
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
        self._groups = {name: ResourceGroup() for name in resource_groups}
        self._registry = registry_sim.PromptRegistry(self._groups, self._completed_optimizations)
        self._tokens: dict[str, datetime] = {}
        self._faults = simkit.FaultQueue(_fault_reaches, injected)
        self._late = simkit.FaultQueue(_fault_reaches, injected)
        self._routes = simkit.RouteTable(self._build_routes(), no_route)
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
        problem = bindings_problem(params, artifacts)
        if problem is not None:
            raise ValueError(problem)
        writes = registry_sim.writes_templates(scenario_id, optimized_templates, dict(params))
        series = metric_series(metrics or ())
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, got {outcome!r}")
        group = self._group(resource_group)
        if config_id in group.configurations:
            raise ValueError(f"configuration {config_id!r} already exists in {resource_group!r}")
        if outcome == "DEAD" and status_message is None:
            status_message = DEFAULT_DEAD_MESSAGE
        group.configurations[config_id] = Configuration(
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
            execution.phases = [Phase(execution.created_at, status, status_message)]
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
        execution.manual_logs.extend(LogLine(now, line, "main") for line in lines)

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
        stamped = [{"timestamp": rfc3339(now), **metric} for metric in metrics]
        previous = group.metrics.get(execution_id)
        group.metrics[execution_id] = MetricResource(
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
        self._groups.setdefault(name, ResourceGroup())

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

    def _group(self, name: str) -> ResourceGroup:
        try:
            return self._groups[name]
        except KeyError:
            raise KeyError(f"unknown resource group {name!r}") from None

    def _execution(self, execution_id: str, resource_group: str) -> Execution:
        execution = self._group(resource_group).executions.get(execution_id)
        if execution is None:
            raise KeyError(f"no execution {execution_id!r} in {resource_group!r}")
        return execution

    def _start(
        self,
        group: ResourceGroup,
        config: Configuration,
        group_name: str,
        execution_id: str | None = None,
    ) -> Execution:
        now = self.clock.now()
        new_id = execution_id or self._new_execution_id(group)
        execution = Execution(
            id=new_id,
            configuration=config,
            resource_group=group_name,
            created_at=now,
            phases=self._lifecycle(config, now),
        )
        group.add(execution)
        return execution

    def _new_execution_id(self, group: ResourceGroup) -> str:
        while True:
            candidate = secrets.token_hex(8)  # AI Core ids: 16 lowercase hex characters
            if candidate not in group.executions:
                return candidate

    def _lifecycle(self, config: Configuration, start: datetime) -> list[Phase]:
        if config.outcome == "PENDING_FOREVER":
            return [Phase(start, "PENDING")]
        if config.outcome == "UNKNOWN_FOREVER":
            return [Phase(start, "UNKNOWN")]
        pending = self.pending_seconds if config.pending_seconds is None else config.pending_seconds
        running = self.running_seconds if config.running_seconds is None else config.running_seconds
        running_at = start + timedelta(seconds=pending)
        done_at = running_at + timedelta(seconds=running)
        return [
            Phase(start, "PENDING"),
            Phase(running_at, "RUNNING"),
            Phase(done_at, config.outcome, config.status_message),
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
                raise ApiError(404, CODE_NOT_FOUND, f"No resource at {path}")
        except ApiError as error:
            response = error_response(error, request_id, path)
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
            return oauth_error(405, "method_not_allowed", "Use POST")
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("grant_type") != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", "Only client_credentials")
        client_id, secret = basic_credentials(request) or (
            form.get("client_id"),
            form.get("client_secret"),
        )
        if (client_id, secret) != (self.client_id, self.client_secret):
            return oauth_error(401, "unauthorized", "Bad credentials")
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
            if not ID.fullmatch(value) and not registry_sim.serves(path):
                raise bad_request(f"{name} {value!r} does not match {ID_RULE}")
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
            raise ApiError(
                401,
                CODE_UNAUTHORIZED,
                "Missing, invalid or expired bearer token",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )

    def _resolve_group(self, request: Request, needed: bool) -> tuple[str, ResourceGroup]:
        if not needed:
            # Unscoped endpoints (meta) ignore the header and never look at the group.
            return "", ResourceGroup()
        name = request.headers.get("ai-resource-group")
        if name is None:
            raise bad_request("Missing header AI-Resource-Group")
        if name not in self._groups:
            # The spec declares 400, not 404, on these endpoints, so we answer 400.
            raise bad_request(f"Resource group {name!r} does not exist")
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
        selector = select(ctx.query)
        top = int_param(ctx.query, "$top", default=10000, minimum=0, maximum=100000)
        skip = int_param(ctx.query, "$skip", default=0, minimum=0)
        if ctx.group.garbled_listings:
            ctx.group.garbled_listings -= 1
            return JSONResponse({"count": "several", "resources": "see the UI"})
        matching = [e for e in self._filtered(ctx) if e.id not in ctx.group.unlisted]
        page = matching[skip : skip + top]
        render = status_json if selector else execution_json
        # count is the total of matching executions, not the page size; the spec leaves it
        # open, and a total lets clients page without a separate $count call.
        return JSONResponse(
            {"count": len(matching), "resources": [render(e, ctx.now) for e in page]}
        )

    def _count_executions(self, ctx: _Context) -> Response:
        return PlainTextResponse(str(len(self._filtered(ctx))))

    def _filtered(self, ctx: _Context) -> list[Execution]:
        wanted = execution_filter(ctx.query)
        return [e for e in _sorted_executions(ctx.group) if wanted.matches(e, ctx.now)]

    def _create_execution(self, ctx: _Context) -> Response:
        payload = json_object(ctx.body)
        config_id = payload.get("configurationId")
        if not isinstance(config_id, str) or not ID.fullmatch(config_id):
            raise bad_request(f"configurationId is required and must match {ID_RULE}")
        config = ctx.group.configurations.get(config_id)
        if config is None:
            # The spec declares only 400 for this call, so an unknown configuration is a 400.
            raise bad_request(
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
        if select(ctx.query):
            data = status_json(execution, ctx.now)
        else:
            data = execution_json(execution, ctx.now)
        # The spec types statusDetails as a non-nullable object, so it is {} rather than null.
        waiting = execution.current(ctx.now).status == "PENDING"
        details = execution.configuration.pending_details if waiting else None
        data["statusDetails"] = dict(details or {})
        return JSONResponse(data)

    def _modify_execution(self, ctx: _Context) -> Response:
        payload = json_object(ctx.body)
        if payload.get("targetStatus") != "STOPPED":
            raise bad_request("targetStatus must be STOPPED (the only supported value)")
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
            raise bad_request("Bulk updates of executions are not enabled on this runtime")
        media_type = (ctx.request.headers.get("content-type") or "").split(";")[0].strip()
        if media_type.lower() != "application/merge-patch+json":
            raise ApiError(
                415, CODE_UNSUPPORTED_MEDIA, "Content-Type must be application/merge-patch+json"
            )
        items = bulk_items(json_object(ctx.body))
        results = [self._bulk_item(ctx, item_id, target) for item_id, target in items]
        return JSONResponse({"executions": results}, status_code=202)

    def _bulk_item(self, ctx: _Context, item_id: str, target: str) -> dict[str, Any]:
        execution = ctx.group.executions.get(item_id)
        if execution is None:
            error: ApiError | None = ApiError(
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

    def _stop(self, execution: Execution, now: datetime) -> ApiError | None:
        status = execution.current(now).status
        if status not in STOPPABLE:
            return ApiError(
                412,
                CODE_PRECONDITION,
                f"Execution {execution.id} is {status}; only PENDING or RUNNING can be stopped",
            )
        execution.schedule_stop(now, self.stopping_seconds)
        return None

    def _delete(self, group: ResourceGroup, execution: Execution, now: datetime) -> ApiError | None:
        status = execution.current(now).status
        if status not in DELETABLE:
            return ApiError(
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
        return logs_page(execution, ctx.query, ctx.now, self.running_seconds)

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
        scenario_id = id_param(ctx.query, "scenarioId")
        executable_ids = id_list_param(ctx.query, "executableIds")
        top = int_param(ctx.query, "$top", default=10000, minimum=0, maximum=100000)
        skip = int_param(ctx.query, "$skip", default=0, minimum=0)
        named = name_filter(ctx.query)
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
        name, scenario_id, executable_id, params, artifacts = configuration_body(
            json_object(ctx.body)
        )
        source = self._behaviour_source(ctx.group, scenario_id, executable_id, params)
        config_id = self._new_configuration_id(ctx.group)
        ctx.group.configurations[config_id] = Configuration(
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
        group: ResourceGroup,
        scenario_id: str,
        executable_id: str,
        parameters: Sequence[tuple[str, str]],
    ) -> Configuration | None:
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

    def _new_configuration_id(self, group: ResourceGroup) -> str:
        while True:
            candidate = str(uuid.uuid4())  # AI Core's configuration ids are UUIDs
            if candidate not in group.configurations:
                return candidate

    def _get_configuration(self, ctx: _Context) -> Response:
        config = ctx.group.configurations.get(ctx.params["configurationId"])
        if config is None:
            raise ApiError(
                404, CODE_NOT_FOUND, f"Configuration {ctx.params['configurationId']} not found"
            )
        return JSONResponse(config.to_json())

    def _metrics(self, ctx: _Context) -> Response:
        return metrics_page(ctx.group, ctx.query, ctx.now)

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


# --- helpers ----------------------------------------------------------------------------------


def _require_id(value: str) -> None:
    if not ID.fullmatch(value):
        raise ValueError(f"{value!r} does not match {ID_RULE}")


def _require_status(status: str) -> None:
    if status not in EXECUTION_STATUSES:
        raise ValueError(f"status must be one of {EXECUTION_STATUSES}, got {status!r}")


def _sorted_executions(group: ResourceGroup) -> list[Execution]:
    return group.ordered()


def _sorted_configurations(group: ResourceGroup) -> list[Configuration]:
    return sorted(group.configurations.values(), key=lambda c: (c.created_at, c.id))


def _find(ctx: _Context, execution_id: str) -> Execution:
    execution = ctx.group.executions.get(execution_id)
    if execution is None:
        raise ApiError(
            404,
            CODE_NOT_FOUND,
            f"Execution {execution_id} not found in resource group {ctx.group_name}",
        )
    return execution
