"""The prompt registry of the AI Core simulator: ``GET /v2/lm/promptTemplates...``.

SAP serves the prompt registry on the AI API's host, next to ``/v2/lm/executions``; so does
:class:`~bot.providers.aicore.simulator.AICoreSimulator`, which owns one
:class:`PromptRegistry` and wires its routes, token check and injected faults in. What differs
from the AI API proper lives here: its error body (``{"request_id", "message"}``, not the AI
API's ``{"error": {...}}``), its optional resource-group header, and its ids (UUIDs, and
versions such as ``1.0`` that the AI API's id rule would refuse).

Where templates live: tenant-wide, or in one resource group. A request sees the tenant's
templates unless it sends ``AI-Resource-Group-Scope: true``; then it sees only those of the
group named in ``AI-Resource-Group`` (400 without that header).

Prompt optimizations: a COMPLETED execution in scenario ``genai-optimizations`` writes one
template per target model (see :func:`optimization_targets`), unless its configuration says
the optimization did not beat the base prompt. Execution status is derived lazily from the
clock, so nothing happens at the moment of completion: every read of the registry first
writes the templates of runs that have completed since the last read (:meth:`materialize`),
stamped with the run's completion time, once per run.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from starlette.responses import JSONResponse, Response

from bot.providers import simkit

__all__ = [
    "MAX_TARGET_MODELS",
    "OPTIMIZATION_SCENARIO",
    "CompletedRun",
    "PromptRegistry",
    "RegistryError",
    "Target",
    "error_response",
    "optimization_targets",
    "serves",
    "writes_templates",
]

OPTIMIZATION_SCENARIO: Final = "genai-optimizations"
MAX_TARGET_MODELS: Final = 4
MANAGED_BY: Final = "imperative"  # how templates created through the API are marked
MAX_TOP: Final = 500
# The spec names only the default, "both"; the other two values are the simulator's reading
# of it (a filter on managedBy: API-made templates, or those synced from git).
RETRIEVE: Final = frozenset({"both", "imperative", "declarative"})
OPTIMIZATION_KEYS: Final = ("basePrompt", "targetModels", "targetPromptMapping")

# The limits the spec sets on a template's scenario, name and version when one is created.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,120}")
_VERSION = re.compile(r"[A-Za-z0-9._-]{1,10}")
_BASE_PROMPT = re.compile(r"(?P<scenario>[^/]+)/(?P<name>[^:]+):(?P<version>.+)")
_PATHS = re.compile(r"/lm/(?:scenarios/[^/]+/)?promptTemplates(?:/.*)?")
_DEFAULT_SPEC: Final = {"template": [{"role": "user", "content": "{{?question}}"}]}


# --- errors -----------------------------------------------------------------------------------


class RegistryError(Exception):
    """Raised by the registry's handlers; answered as the spec's ErrorResponse."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def serves(path: str) -> bool:
    """Whether ``path`` (without the ``/v2`` prefix) belongs to the prompt registry."""
    return _PATHS.fullmatch(path) is not None


def error_response(
    status: int, message: str, request_id: str, headers: Mapping[str, str] | None = None
) -> Response:
    """The registry's error body (for token, routing and fault errors on its paths too)."""
    body = {"request_id": request_id, "message": message}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _bad_request(message: str) -> RegistryError:
    return RegistryError(400, message)


# --- what an optimization writes --------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One template an optimization writes: for ``model``, ``scenario/name:version``."""

    model: str
    scenario: str
    name: str
    version: str
    resource_group_scoped: bool


def optimization_targets(parameters: Mapping[str, str]) -> list[Target]:
    """The templates a ``genai-optimizations`` run with these bindings writes when it beats
    the base prompt, in ``targetModels`` order; ValueError if the bindings are malformed.

    A target model that ``targetPromptMapping`` does not map gets no template, and a mapping
    for a model not in ``targetModels`` is ignored.
    """
    base = _BASE_PROMPT.fullmatch(parameters.get("basePrompt", "").strip())
    if base is None or not _NAME.fullmatch(base["scenario"].strip()):
        raise ValueError("basePrompt must be '<scenario>/<promptName>:<promptVersion>'")
    models = [m.strip() for m in parameters.get("targetModels", "").split(",") if m.strip()]
    if not 1 <= len(models) <= MAX_TARGET_MODELS or any(":" not in m for m in models):
        raise ValueError(
            f"targetModels must list 1 to {MAX_TARGET_MODELS} '<modelName>:<modelVersion>'"
        )
    mapping: dict[str, tuple[str, str]] = {}
    for entry in parameters.get("targetPromptMapping", "").split(","):
        if not entry.strip():
            continue
        model, _, prompt = entry.partition("=")
        name, _, version = prompt.strip().rpartition(":")
        if not (":" in model and _NAME.fullmatch(name) and _VERSION.fullmatch(version)):
            raise ValueError(
                "targetPromptMapping items must be "
                f"'<modelName>:<modelVersion>=<promptName>:<promptVersion>', got {entry!r}"
            )
        mapping[model.strip()] = (name, version)
    scope = parameters.get("promptTemplateScope", "tenant").strip().lower()
    if scope not in {"tenant", "resourcegroup"}:
        raise ValueError(f"promptTemplateScope must be tenant or resourcegroup, got {scope!r}")
    scenario = base["scenario"].strip()
    return [
        Target(model, scenario, *mapping[model], resource_group_scoped=scope == "resourcegroup")
        for model in dict.fromkeys(models)
        if model in mapping
    ]


def writes_templates(
    scenario_id: str, optimized_templates: bool | None, parameters: Mapping[str, str]
) -> bool:
    """Whether a seeded configuration's COMPLETED runs write templates (ValueError if the
    request makes no sense).

    ``optimized_templates`` applies to scenario ``genai-optimizations`` only; None there means
    True (the optimization beat the base prompt), False that it did not. Bindings that would
    be written from are checked now, so that a mistake shows where the test makes it.
    """
    if scenario_id != OPTIMIZATION_SCENARIO:
        if optimized_templates is not None:
            raise ValueError(f"optimized_templates applies to scenario {OPTIMIZATION_SCENARIO}")
        return False
    if optimized_templates is False:
        return False
    if optimized_templates or any(key in parameters for key in OPTIMIZATION_KEYS):
        optimization_targets(parameters)
    return True


@dataclass(frozen=True)
class CompletedRun:
    """An optimization execution that has reached COMPLETED (and whose templates are due)."""

    execution_id: str
    resource_group: str
    completed_at: datetime
    parameters: Mapping[str, str]


# --- state ------------------------------------------------------------------------------------


@dataclass
class _Template:
    id: str
    scenario: str
    name: str
    version: str
    resource_group: str | None  # None: tenant-wide
    spec: dict[str, Any]
    created_at: datetime
    order: int  # registration order, the tie-break between equal timestamps

    @property
    def key(self) -> tuple[str | None, str, str, str]:
        return (self.resource_group, self.scenario, self.name, self.version)

    def to_json(self, *, head: bool, with_spec: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "scenario": self.scenario,
            "creationTimestamp": _timestamp(self.created_at),
            "managedBy": MANAGED_BY,
            "isVersionHead": head,
        }
        # The spec marks nothing nullable: a tenant-wide template has no resourceGroupId.
        if self.resource_group is not None:
            data["resourceGroupId"] = self.resource_group
        if with_spec:
            data["spec"] = copy.deepcopy(self.spec)
        return data


class PromptRegistry:
    """Templates per scope, and the optimization runs whose templates are written already.

    ``groups`` answers which resource groups exist; ``completed_runs(now)`` lists the
    optimization executions that have completed by ``now`` and write templates (the
    simulator's, including ones written already: the registry remembers which it has done).
    """

    def __init__(
        self, groups: Container[str], completed_runs: Callable[[datetime], Iterable[CompletedRun]]
    ) -> None:
        self.groups = groups
        self.completed_runs = completed_runs
        self._templates: list[_Template] = []
        self._written: set[tuple[str, str]] = set()  # (resource group, execution id)

    def add(
        self,
        *,
        scenario: str,
        name: str,
        version: str,
        resource_group: str | None,
        spec: Mapping[str, Any] | None,
        created_at: datetime,
    ) -> str:
        """Store a template (ValueError or KeyError if the spec would refuse it); its id."""
        for label, value, rule in (
            ("scenario", scenario, _NAME),
            ("name", name, _NAME),
            ("version", version, _VERSION),
        ):
            if not rule.fullmatch(value):
                raise ValueError(f"{label} {value!r} does not match {rule.pattern}")
        if resource_group is not None and resource_group not in self.groups:
            raise KeyError(f"unknown resource group {resource_group!r}")
        body = copy.deepcopy(dict(spec) if spec is not None else _DEFAULT_SPEC)
        if not isinstance(body.get("template"), list):
            raise ValueError("spec needs a 'template' list (PromptTemplateSpec)")
        moment = created_at.replace(tzinfo=UTC) if created_at.tzinfo is None else created_at
        template = _Template(
            id=str(uuid.uuid4()),
            scenario=scenario,
            name=name,
            version=version,
            resource_group=resource_group,
            spec=body,
            created_at=moment.astimezone(UTC),
            order=len(self._templates),
        )
        self._templates.append(template)
        return template.id

    def materialize(self, now: datetime) -> None:
        """Write the templates of optimization runs completed by ``now``, once per run."""
        due = [
            run
            for run in self.completed_runs(now)
            if (run.resource_group, run.execution_id) not in self._written
        ]
        for run in sorted(due, key=lambda r: (r.completed_at, r.resource_group, r.execution_id)):
            self._written.add((run.resource_group, run.execution_id))
            try:
                targets = optimization_targets(run.parameters)
            except ValueError:
                continue  # a real run with such bindings would fail; it writes nothing
            for target in targets:
                self.add(
                    scenario=target.scenario,
                    name=target.name,
                    version=target.version,
                    resource_group=run.resource_group if target.resource_group_scoped else None,
                    spec=_optimized_spec(target, run),
                    created_at=run.completed_at,
                )

    # --- HTTP -----------------------------------------------------------------------------

    def routes(self) -> list[simkit.Route[simkit.RequestContext]]:
        """The registry's routes, relative to ``/v2`` (the simulator checks the token)."""
        history = (
            r"/lm/scenarios/(?P<scenario>[^/]+)/promptTemplates/(?P<name>[^/]+)"
            r"/versions/(?P<version>[^/]+)/history"
        )
        return [
            simkit.Route("GET", re.compile(r"/lm/promptTemplates"), self._list),
            simkit.Route(
                "GET", re.compile(r"/lm/promptTemplates/(?P<promptTemplateId>[^/]+)"), self._get
            ),
            simkit.Route("GET", re.compile(history), self._history),
        ]

    def _list(self, ctx: simkit.RequestContext) -> Response:
        scope = self._read(ctx)
        query = ctx.query
        with_spec = _flag(query, "includeSpec", default=False)
        retrieve = query.get("retrieve", "both")
        if retrieve not in RETRIEVE:
            raise _bad_request(f"retrieve must be one of {', '.join(sorted(RETRIEVE))}")
        wanted = {key: query.get(key) for key in ("scenario", "name", "version")}
        pool = self._visible(scope) if retrieve in {"both", MANAGED_BY} else []
        matching = [
            t
            for t in pool
            if all(value is None or getattr(t, key) == value for key, value in wanted.items())
        ]
        return self._page(ctx, scope, matching, with_spec=with_spec)

    def _history(self, ctx: simkit.RequestContext) -> Response:
        scope = self._read(ctx)
        wanted = (scope, ctx.params["scenario"], ctx.params["name"], ctx.params["version"])
        matching = [t for t in self._visible(scope) if t.key == wanted]
        # The call has no includeSpec: a history shows what each record held.
        return self._page(ctx, scope, matching, with_spec=True)

    def _get(self, ctx: simkit.RequestContext) -> Response:
        scope = self._read(ctx)
        raw_id = ctx.params["promptTemplateId"]
        try:
            template_id = str(uuid.UUID(raw_id))
        except ValueError:
            raise _bad_request(f"promptTemplateId {raw_id!r} is not a UUID") from None
        template = next((t for t in self._visible(scope) if t.id == template_id), None)
        if template is None:
            where = f"resource group {scope!r}" if scope is not None else "the tenant"
            raise RegistryError(404, f"Prompt template {template_id} not found in {where}")
        heads = self._heads(scope)
        return JSONResponse(template.to_json(head=template.id in heads, with_spec=True))

    def _read(self, ctx: simkit.RequestContext) -> str | None:
        """Check the scope headers, catch up on completed runs, and return the scope."""
        scope = self._scope(ctx)
        self.materialize(ctx.now)
        return scope

    def _scope(self, ctx: simkit.RequestContext) -> str | None:
        """The resource group a request addresses, or None for the tenant."""
        flag = ctx.request.headers.get("ai-resource-group-scope")
        if flag is None or flag.lower() == "false":
            return None  # tenant-wide; AI-Resource-Group is then not looked at
        if flag.lower() != "true":
            raise _bad_request("AI-Resource-Group-Scope must be true or false")
        group = ctx.request.headers.get("ai-resource-group")
        if group is None:
            raise _bad_request("AI-Resource-Group-Scope: true needs the AI-Resource-Group header")
        if group not in self.groups:
            raise _bad_request(f"Resource group {group!r} does not exist")
        return group

    def _visible(self, scope: str | None) -> list[_Template]:
        chosen = [t for t in self._templates if t.resource_group == scope]
        return sorted(chosen, key=lambda t: (t.created_at, t.order))

    def _heads(self, scope: str | None) -> set[str]:
        """Ids of the newest template of each (scenario, name, version) in the scope."""
        newest: dict[tuple[str | None, str, str, str], _Template] = {}
        for template in self._visible(scope):
            newest[template.key] = template  # in time order: the last one wins
        return {t.id for t in newest.values()}

    def _page(
        self,
        ctx: simkit.RequestContext,
        scope: str | None,
        matching: Sequence[_Template],
        *,
        with_spec: bool,
    ) -> Response:
        top = _int(ctx.query, "$top", minimum=1, maximum=MAX_TOP)
        skip = _int(ctx.query, "$skip", minimum=0) or 0
        page = matching[skip : skip + top] if top is not None else matching[skip:]
        heads = self._heads(scope)
        resources = [t.to_json(head=t.id in heads, with_spec=with_spec) for t in page]
        # count is every match, not the page (as the simulator's other listings answer).
        return JSONResponse({"count": len(matching), "resources": resources})


# --- helpers ----------------------------------------------------------------------------------


def _optimized_spec(target: Target, run: CompletedRun) -> dict[str, Any]:
    text = (
        f"Optimized for {target.model} from {run.parameters.get('basePrompt', '?')} "
        f"by execution {run.execution_id}. Answer: {{{{?question}}}}"
    )
    return {"template": [{"role": "user", "content": text}], "defaults": {}}


def _timestamp(moment: datetime) -> str:
    # As the AI API writes its times (see sim_model.rfc3339); the spec's "timestamp"
    # format does not say more.
    text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def _flag(query: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = query.get(name)
    if raw is None:
        return default
    if raw.lower() not in {"true", "false"}:
        raise _bad_request(f"{name} must be true or false, got {raw!r}")
    return raw.lower() == "true"


def _int(
    query: Mapping[str, str], name: str, *, minimum: int, maximum: int | None = None
) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise _bad_request(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise _bad_request(f"{name} must be {bounds}, got {value}")
    return value
