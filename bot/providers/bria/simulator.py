"""An in-process stand-in for Bria's tailored-generation training API (``/v1/tailored-gen``).

Tests, benchmarks and the local sandbox talk to :class:`BriaSimulator` over real HTTP
semantics (an ASGI app), so :class:`~bot.providers.bria.client.BriaClient` runs unchanged
against it. Paths are served both with and without the ``/v1`` prefix: point the client's
``base_url`` at ``http://host`` or ``http://host/v1``.

Behaviour follows the team's reference notes on Bria (statuses, documented error codes,
defaults per training version, ranges). Bria documents almost no error bodies; where the
published spec shows one (a block of it that sits outside ``paths``, so tools ignore it) the
simulator uses that shape, otherwise ``{"message": ...}``. Each guess is commented.

Design points, shared with the AI Core simulator:

- No background tasks: a model's status is derived from the clock at request time, from a
  list of scheduled phases. ``ManualClock.advance`` moves every model at once.
- Forcing a status (``set_status``, ``add_model(status=...)``) drops the scheduled future and
  pins the model there; start and stop requests schedule their phases on the clock.
- Everything is deterministic: ids come from one counter shared by projects, datasets and
  models (so passing a dataset id where a model id belongs fails loudly).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from bot.providers import simkit
from bot.providers.simkit import Clock, ManualClock, RecordedRequest, SystemClock

__all__ = [
    "MODEL_STATUSES",
    "OUTCOMES",
    "BriaSimulator",
    "Clock",
    "ManualClock",
    "RecordedRequest",
    "SystemClock",
]

# --- facts about the API (kept here, not imported from the bot: the simulator checks the bot) -----

API_PREFIX: Final = "/v1"
MODEL_STATUSES: Final = ("Created", "InProgress", "Completed", "Failed", "Stopping", "Stopped")
IN_TRAINING: Final = frozenset({"InProgress", "Stopping"})
OUTCOMES: Final = frozenset({"Completed", "Failed"})
DATASET_STATUSES: Final = ("draft", "completed")
TRAINING_MODES: Final = ("fully_automated", "expert")
LR_SCHEDULERS: Final = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
)
LEGACY_VERSIONS: Final = frozenset({"max", "light", "3.2", "2.3", "bria-3.2", "bria-2.3"})
_FIBO_DEFAULTS: Final = {
    "learning_rate": 0.0001,
    "lr_scheduler": "constant_with_warmup",
    "rank": 128,
    "total_training_steps": 750,
    "checkpoint_interval": 500,
    "lr_warmup_steps": 100,
}
_LEGACY_DEFAULTS: Final = {
    **_FIBO_DEFAULTS,
    "lr_scheduler": "constant",
    "total_training_steps": 1500,
}
# name -> (integer?, minimum, maximum or None), from the spec's start-training schema.
_PARAMETER_RULES: Final[Mapping[str, tuple[bool, float, float | None]]] = {
    "learning_rate": (False, 0.000001, 0.001),
    "total_training_steps": (True, 1, 5000),
    "rank": (True, 4, 256),
    "checkpoint_interval": (True, 100, None),
    "lr_warmup_steps": (True, 0, 1000),
}
# Deprecated alias in the oldest docs; total_training_steps wins when both are sent.
_STEPS_ALIAS: Final = "max_train_steps"
_PARAMETERS: Final = frozenset({*_PARAMETER_RULES, "lr_scheduler", _STEPS_ALIAS})

# Texts from the spec's response descriptions and examples.
FORBIDDEN_TEXT: Final = (
    "Quota exceeded: Free users can make up to 1000 requests in total. "
    "Please upgrade your plan to continue using the service."
)
_FAULT_TEXTS: Final = {429: "Request limit exceeded.", 500: "Internal server error"}

DEFAULT_START: Final = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
FIRST_ID: Final = 1001


# --- errors and faults ----------------------------------------------------------------------------


class _BriaError(Exception):
    """Raised by handlers; ``body`` is the JSON value answered (an object or a string)."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _message(status: int, text: str) -> _BriaError:
    return _BriaError(status, {"message": text})


def _field_errors(errors: list[dict[str, str]]) -> _BriaError:
    # The validation shape the spec's (misplaced) start-training block documents for 400.
    return _BriaError(400, {"errors": errors})


def _field_error(name: str, message: str, value: Any) -> dict[str, str]:
    return {"msg": message, "field_name": name, "field_input": str(value)}


def _injected(fault: simkit.Fault) -> _BriaError:
    """The error an injected fault answers with."""
    text = _FAULT_TEXTS.get(fault.status, HTTPStatus(fault.status).phrase)
    return _BriaError(fault.status, {"message": text}, fault.headers)


def _no_route(method: str, path: str, allowed: list[str]) -> _BriaError:
    # Undocumented; shaped like a FastAPI answer, which the validation errors suggest.
    if allowed:
        return _BriaError(405, {"detail": "Method Not Allowed"}, {"Allow": ", ".join(allowed)})
    return _BriaError(404, {"detail": "Not Found"})


def _fault_reaches(path_prefix: str | None, path: str) -> bool:
    """Whether a fault reaches ``path`` (without ``/v1``); prefixes match with or without it."""
    return path_prefix is None or path.startswith(simkit.strip_prefix(path_prefix, API_PREFIX))


# --- domain state ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Phase:
    at: datetime
    status: str


@dataclass
class _Project:
    id: int
    name: str
    description: str
    ip_medium: str
    ip_type: str
    training_version: str | None
    created_at: datetime


@dataclass
class _Dataset:
    id: int
    project_id: int
    name: str
    status: str
    training_version: str | None
    caption_prefix: str | None
    images_count: int
    created_at: datetime
    updated_at: datetime


@dataclass
class _Model:
    id: int
    dataset: _Dataset
    name: str
    description: str
    training_mode: str
    training_version: str | None
    outcome: str
    created_at: datetime
    phases: list[_Phase]
    parameters: dict[str, Any] = field(default_factory=dict)
    training_seconds: float = 0.0

    def reached(self, now: datetime) -> list[_Phase]:
        first, *later = self.phases
        return [first, *(phase for phase in later if phase.at <= now)]

    def current(self, now: datetime) -> _Phase:
        return self.reached(now)[-1]

    def pin(self, now: datetime, status: str) -> None:
        """Drop the scheduled future and, if the status changes, enter ``status`` now."""
        self.phases = self.reached(now)
        if self.phases[-1].status != status:
            self.phases.append(_Phase(now, status))

    def checkpoints(self, now: datetime) -> list[str]:
        """Steps saved so far: expert mode only, every checkpoint_interval steps of progress."""
        if self.training_mode != "expert" or not self.parameters or self.training_seconds <= 0:
            return []
        reached = self.reached(now)
        started = next((i for i, p in enumerate(reached) if p.status == "InProgress"), None)
        if started is None:
            return []
        begin = reached[started].at
        end = reached[started + 1].at if started + 1 < len(reached) else now
        total = int(self.parameters["total_training_steps"])
        fraction = min(1.0, (end - begin).total_seconds() / self.training_seconds)
        done = math.floor(total * fraction)
        interval = int(self.parameters["checkpoint_interval"])
        return [str(step) for step in range(interval, done + 1, interval)]


# Bria's handlers need nothing beyond the shared context (no groups, no request ids).
_Context = simkit.RequestContext
_Route = simkit.Route[_Context]


# --- the simulator --------------------------------------------------------------------------------


class BriaSimulator:
    """A fake Bria account: projects, datasets and tailored models with a training lifecycle.

    ``app`` is the ASGI application; serve it with ``httpx.ASGITransport`` or uvicorn.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        api_token: str = "bria-test-token",
        training_seconds: float = 3600.0,
        stopping_seconds: float = 5.0,
    ) -> None:
        self.clock: Clock = clock if clock is not None else ManualClock(DEFAULT_START)
        self.api_token = api_token
        self.training_seconds = training_seconds
        self.stopping_seconds = stopping_seconds
        self.requests: list[RecordedRequest] = []
        self.latency = 0.0
        self._forbidden: str | None = None
        self._next_id = FIRST_ID
        self._projects: dict[int, _Project] = {}
        self._datasets: dict[int, _Dataset] = {}
        self._models: dict[int, _Model] = {}
        self._faults = simkit.FaultQueue(_fault_reaches, _injected)
        self._routes = simkit.RouteTable(self._build_routes(), _no_route)
        self.app: ASGIApp = simkit.catch_all_app(self._handle)

    # --- seeding and inspection (test API) --------------------------------------------------------

    def add_project(
        self,
        name: str = "Branded Character",
        *,
        description: str = "",
        ip_medium: str = "illustration",
        ip_type: str = "defined_character",
        training_version: str | None = None,
    ) -> int:
        """Create a project; returns its id."""
        project_id = self._new_id()
        self._projects[project_id] = _Project(
            project_id, name, description, ip_medium, ip_type, training_version, self.clock.now()
        )
        return project_id

    def add_dataset(
        self,
        project_id: int,
        *,
        name: str | None = None,
        status: str = "completed",
        training_version: str | None = None,
        caption_prefix: str | None = None,
        images_count: int = 5,
    ) -> int:
        """Create a dataset in a project; returns its id.

        ``training_version`` also locks an unlocked project to that version, as Bria does.
        """
        project = self._projects.get(project_id)
        if project is None:
            raise KeyError(f"no project {project_id}")
        _require(status, DATASET_STATUSES, "status")
        if project.training_version is None and training_version is not None:
            project.training_version = "max" if training_version in LEGACY_VERSIONS else "fibo"
        dataset_id = self._new_id()
        now = self.clock.now()
        self._datasets[dataset_id] = _Dataset(
            id=dataset_id,
            project_id=project_id,
            name=name if name is not None else f"dataset {dataset_id}",
            status=status,
            training_version=training_version,
            caption_prefix=caption_prefix,
            images_count=images_count,
            created_at=now,
            updated_at=now,
        )
        return dataset_id

    def add_model(
        self,
        dataset_id: int,
        *,
        name: str = "Tailored model",
        description: str = "",
        training_mode: str = "fully_automated",
        training_version: str | None = None,
        status: str = "Created",
        outcome: str = "Completed",
    ) -> int:
        """Create a model on a dataset; returns its id.

        ``outcome`` is how its training ends ("Completed" or "Failed"). A ``status`` other
        than Created pins the model there (with the default parameters of its version).
        ``training_version`` defaults to the dataset's.
        """
        dataset = self._datasets.get(dataset_id)
        if dataset is None:
            raise KeyError(f"no dataset {dataset_id}")
        _require(training_mode, TRAINING_MODES, "training_mode")
        _require(status, MODEL_STATUSES, "status")
        _require(outcome, tuple(sorted(OUTCOMES)), "outcome")
        model_id = self._new_id()
        now = self.clock.now()
        model = _Model(
            id=model_id,
            dataset=dataset,
            name=name,
            description=description,
            training_mode=training_mode,
            training_version=training_version or dataset.training_version,
            outcome=outcome,
            created_at=now,
            phases=[_Phase(now, status)],
        )
        if status != "Created":
            model.parameters = _merged_parameters(model.training_version, {})
        self._models[model_id] = model
        return model_id

    def set_status(self, model_id: int, status: str) -> None:
        """Force a status now; it stays until a request changes it."""
        _require(status, MODEL_STATUSES, "status")
        model = self._model(model_id)
        model.pin(self.clock.now(), status)
        if status != "Created" and not model.parameters:
            model.parameters = _merged_parameters(model.training_version, {})

    def set_dataset_status(self, dataset_id: int, status: str) -> None:
        """Mark a dataset draft or completed (what ``PUT /datasets/{id}`` does in Bria)."""
        _require(status, DATASET_STATUSES, "status")
        dataset = self._datasets.get(dataset_id)
        if dataset is None:
            raise KeyError(f"no dataset {dataset_id}")
        dataset.status = status
        dataset.updated_at = self.clock.now()

    def set_forbidden(self, forbidden: bool, text: str = FORBIDDEN_TEXT) -> None:
        """Answer every authenticated call with 403 and ``text`` (a plan or quota refusal)."""
        self._forbidden = text if forbidden else None

    def model_status(self, model_id: int) -> str | None:
        """Current status, or None if the model is deleted or unknown."""
        model = self._models.get(model_id)
        return model.current(self.clock.now()).status if model else None

    def model_ids(self) -> list[int]:
        return sorted(self._models)

    def inject_fault(
        self,
        *,
        status: int,
        method: str | None = None,
        path_prefix: str | None = None,
        times: int = 1,
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``times`` matching requests fail with ``status`` (0: delay only).

        ``path_prefix`` matches with or without ``/v1``. ``retry_after`` becomes a
        ``Retry-After`` header in seconds (Bria documents none; proxies send it).
        """
        self._faults.inject(
            status=status,
            method=method,
            path_prefix=path_prefix,
            times=times,
            retry_after=retry_after,
            delay=delay,
        )

    def clear_faults(self) -> None:
        """Forget every injected fault that has not fired yet (an outage ends)."""
        self._faults.clear()

    def calls(self, method: str, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests with this method (and exactly this path, without ``/v1``)."""
        return simkit.select_calls(self.requests, method, path)

    def advance(self, seconds: float) -> None:
        """Move a ManualClock forward (convenience for tests holding only the simulator)."""
        simkit.advance_clock(self.clock, seconds)

    # --- internals: state -------------------------------------------------------------------------

    def _new_id(self) -> int:
        new_id = self._next_id
        self._next_id += 1
        return new_id

    def _model(self, model_id: int) -> _Model:
        model = self._models.get(model_id)
        if model is None:
            raise KeyError(f"no model {model_id}")
        return model

    # --- internals: HTTP plumbing -----------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        path = simkit.strip_prefix(request.url.path, API_PREFIX)
        self.requests.append(RecordedRequest.of(request, path, body))
        await simkit.pause(self.latency)
        try:
            await self._faults.apply(request.method, path)
            self._authorize(request)
            route, params = self._routes.match(request.method, path)
            return route.handler(_Context(request, body, self.clock.now(), params))
        except _BriaError as error:
            return JSONResponse(error.body, status_code=error.status, headers=error.headers)

    def _authorize(self, request: Request) -> None:
        # 401 body: undocumented; {"message": ...} like the documented bodies.
        if request.headers.get("api_token") != self.api_token:
            raise _message(401, "Unauthorized: missing or invalid api_token")
        if self._forbidden is not None:
            # The spec's 403 examples are a bare JSON string, not an object.
            raise _BriaError(403, self._forbidden)

    def _build_routes(self) -> list[_Route]:
        one_model = r"/tailored-gen/models/(?P<model_id>[^/]+)"
        return [
            _Route("GET", re.compile(r"/tailored-gen/projects"), self._list_projects),
            _Route(
                "GET", re.compile(r"/tailored-gen/projects/(?P<project_id>[^/]+)"), self._project
            ),
            _Route(
                "GET", re.compile(r"/tailored-gen/datasets/(?P<dataset_id>[^/]+)"), self._dataset
            ),
            _Route("GET", re.compile(r"/tailored-gen/models"), self._list_models),
            _Route("GET", re.compile(one_model), self._get_model),
            _Route("DELETE", re.compile(one_model), self._delete_model),
            _Route("POST", re.compile(one_model + "/start_training"), self._start_training),
            _Route("POST", re.compile(one_model + "/stop_training"), self._stop_training),
        ]

    # --- handlers ---------------------------------------------------------------------------------

    def _list_projects(self, ctx: _Context) -> Response:
        return JSONResponse([self._project_json(p) for p in self._projects.values()])

    def _project(self, ctx: _Context) -> Response:
        project = self._projects.get(_path_id(ctx, "project_id"))
        if project is None:
            raise _message(404, "Project not found")
        return JSONResponse(self._project_json(project))

    def _dataset(self, ctx: _Context) -> Response:
        _int_query(ctx, "max_images", minimum=1, maximum=200)
        dataset = self._datasets.get(_path_id(ctx, "dataset_id"))
        if dataset is None:
            raise _message(404, "Dataset not found")
        return JSONResponse(_dataset_json(dataset))

    def _list_models(self, ctx: _Context) -> Response:
        detailed = _bool_query(ctx, "include_training_parameters")
        models = [self._model_json(m, ctx.now, detailed=detailed) for m in self._models.values()]
        return JSONResponse(models)

    def _get_model(self, ctx: _Context) -> Response:
        return JSONResponse(self._model_json(self._find(ctx), ctx.now))

    def _delete_model(self, ctx: _Context) -> Response:
        model = self._find(ctx)
        # Stopping counts as "in training": deleting during it is undocumented, refusing is
        # the cautious reading (and what the bot must cope with anyway).
        if model.current(ctx.now).status in IN_TRAINING:
            # Body from the spec's (misplaced) delete-model block.
            raise _message(409, "Cannot delete model while it is in training")
        del self._models[model.id]
        return Response(status_code=204)

    def _start_training(self, ctx: _Context) -> Response:
        requested = _training_parameters(_json_object(ctx.body))
        model = self._find(ctx)
        if model.current(ctx.now).status != "Created":
            raise _message(409, "Training already started/cannot be resumed")
        if model.dataset.status != "completed":
            raise _message(412, "Dataset status must be 'completed' to start training")
        if requested and model.training_mode != "expert":
            # The reference notes call this case undocumented (ignored or refused?). The
            # spec's misplaced start-training block shows this 400 and message, so we refuse.
            raise _message(
                400,
                "Advanced training parameters are only supported when training_mode is set "
                "to 'expert'.",
            )
        parameters = _merged_parameters(model.training_version, requested)
        if parameters["checkpoint_interval"] > parameters["total_training_steps"]:
            # The oldest docs: the interval "can not be higher than the total training steps".
            raise _field_errors(
                [
                    _field_error(
                        "checkpoint_interval",
                        "checkpoint_interval can not be higher than total_training_steps",
                        parameters["checkpoint_interval"],
                    )
                ]
            )
        model.parameters = parameters
        model.training_seconds = self.training_seconds
        model.pin(ctx.now, "InProgress")
        model.phases.append(
            _Phase(ctx.now + timedelta(seconds=self.training_seconds), model.outcome)
        )
        return JSONResponse(self._model_json(model, ctx.now))

    def _stop_training(self, ctx: _Context) -> Response:
        model = self._find(ctx)
        if model.current(ctx.now).status != "InProgress":
            raise _message(409, "Training already stopped/not in training")
        model.pin(ctx.now, "Stopping")
        model.phases.append(_Phase(ctx.now + timedelta(seconds=self.stopping_seconds), "Stopped"))
        # The 200 body is undocumented; its description's words, as a message.
        return JSONResponse({"message": "Training job successfully stopped"})

    def _find(self, ctx: _Context) -> _Model:
        model = self._models.get(_path_id(ctx, "model_id"))
        if model is None:
            raise _message(404, "Model not found")
        return model

    # --- rendering --------------------------------------------------------------------------------

    def _project_json(self, project: _Project) -> dict[str, Any]:
        return {
            "id": project.id,
            "project_name": project.name,
            "project_description": project.description,
            "ip_medium": project.ip_medium,
            "ip_type": project.ip_type,
            "training_version": project.training_version,
            "status": "active",
            "created_at": _timestamp(project.created_at),
        }

    def _model_json(self, model: _Model, now: datetime, *, detailed: bool = True) -> dict[str, Any]:
        current = model.current(now)
        data: dict[str, Any] = {
            "id": model.id,
            "name": model.name,
            "description": model.description,
            "status": current.status,
            "training_mode": model.training_mode,
            "active_model_version": "default",
            "project_id": model.dataset.project_id,
            "dataset_id": model.dataset.id,
            "created_at": _timestamp(model.created_at),
            "updated_at": _timestamp(current.at),
        }
        if detailed:
            data["training_parameters"] = dict(model.parameters)
            data["checkpoint_steps"] = model.checkpoints(now)
        # The current (FIBO-only) spec has neither field; the multi-version docs add both.
        if model.training_version is not None:
            data["training_version"] = model.training_version
            legacy = model.training_version in LEGACY_VERSIONS
            data["generation_prefix"] = model.dataset.caption_prefix if legacy else None
        return data


# --- helpers --------------------------------------------------------------------------------------


def _require(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def _timestamp(moment: datetime) -> str:
    # Bria's own examples omit the zone, which their date-time format forbids; we send UTC
    # with a Z so that answers conform (the client reads both).
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _path_id(ctx: _Context, name: str) -> int:
    raw = ctx.params[name]
    if not raw.isdigit():
        raise _field_errors([_field_error(name, "Input should be a valid integer", raw)])
    return int(raw)


def _int_query(ctx: _Context, name: str, *, minimum: int, maximum: int) -> int | None:
    raw = ctx.query.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or not minimum <= int(raw) <= maximum:
        message = f"Input should be an integer between {minimum} and {maximum}"
        raise _field_errors([_field_error(name, message, raw)])
    return int(raw)


def _bool_query(ctx: _Context, name: str) -> bool:
    raw = (ctx.query.get(name) or "false").lower()
    if raw not in {"true", "false", "1", "0"}:
        raise _field_errors([_field_error(name, "Input should be a valid boolean", raw)])
    return raw in {"true", "1"}


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _message(400, "Request body must be a JSON object") from None
    if not isinstance(payload, dict):
        raise _message(400, "Request body must be a JSON object")
    return payload


def _training_parameters(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The known parameters of a start-training body, type- and range-checked (400 if not).

    Unknown fields are ignored, as a FastAPI-style model does by default.
    """
    errors: list[dict[str, str]] = []
    given = {name: value for name, value in payload.items() if name in _PARAMETERS}
    if _STEPS_ALIAS in given:
        alias = given.pop(_STEPS_ALIAS)
        given.setdefault("total_training_steps", alias)
    for name, value in given.items():
        problem = _parameter_problem(name, value)
        if problem:
            errors.append(_field_error(name, problem, value))
    if errors:
        raise _field_errors(errors)
    return given


def _parameter_problem(name: str, value: Any) -> str | None:
    if name == "lr_scheduler":
        if value not in LR_SCHEDULERS:
            return "Input should be " + ", ".join(repr(s) for s in LR_SCHEDULERS)
        return None
    integer, minimum, maximum = _PARAMETER_RULES[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "Input should be a valid number"
    if integer and not float(value).is_integer():
        return "Input should be a valid integer"
    if value < minimum:
        return f"Input should be greater than or equal to {minimum:g}"
    if maximum is not None and value > maximum:
        return f"Input should be less than or equal to {maximum:g}"
    return None


def _merged_parameters(
    training_version: str | None, requested: Mapping[str, Any]
) -> dict[str, Any]:
    legacy = (training_version or "").lower() in LEGACY_VERSIONS
    merged: dict[str, Any] = {**(_LEGACY_DEFAULTS if legacy else _FIBO_DEFAULTS), **requested}
    for name, (integer, _, _) in _PARAMETER_RULES.items():
        if integer:
            merged[name] = int(merged[name])
    merged["learning_rate"] = float(merged["learning_rate"])
    # Bria reports null warmup steps when the scheduler has no warmup.
    if merged["lr_scheduler"] != "constant_with_warmup":
        merged["lr_warmup_steps"] = None
    return merged


def _dataset_json(dataset: _Dataset) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": dataset.id,
        "project_id": dataset.project_id,
        "name": dataset.name,
        "visual_schema": None,
        "status": dataset.status,
        "captions_update_status": "completed",
        "upload_type": "basic",
        "images_count": dataset.images_count,
        "images": [],
        "created_at": _timestamp(dataset.created_at),
        "updated_at": _timestamp(dataset.updated_at),
    }
    if dataset.training_version is not None:
        data["training_version"] = dataset.training_version
        data["caption_prefix"] = dataset.caption_prefix
    return data
