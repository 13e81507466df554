"""The Bria simulator's answers against Bria's published tailored-generation OpenAPI document.

The document's licence forbids copying it into this repository, so it is read at test time
from the shared folder beside the project
(``<workspace>/shared/specs/bria-tailored-generation-openapi.yml``) or from
``BRIA_SPEC_PATH``; when it is absent these tests skip with a reason naming the path.

How the document is adapted in memory (the file itself is never changed or copied):

- Every tailored-gen operation names ``https://engine.prod.bria-api.com/v1`` as its server;
  it becomes the relative ``/v1`` so that any host (``http://sim``) matches. Requests here go
  to ``/v1/...``, which the simulator serves as well as the bare paths.
- The file holds a second, more detailed copy of the model endpoints *outside* ``paths``
  (top-level keys such as ``/tailored-gen/models/{model_id}/start_training``): an indentation
  slip, so tools ignore it. It is the only place documenting error bodies (400, 409), so it
  is loaded as a second document, and every exchange is checked against both where both
  describe the operation.
- One ``oneOf`` there (start-training 400) lists two object shapes that require nothing, so
  every object matches both and ``oneOf`` can never hold; each alternative is read as
  requiring its own properties (``message``, or ``errors``).
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound

from bot.providers.bria.simulator import MODEL_STATUSES, BriaSimulator, ManualClock
from tests.support.bria_fixtures import TOKEN, api, clock, dataset, sim  # noqa: F401 - fixtures
from tests.support.openapi_httpx import OpenAPIRequest, OpenAPIResponse

pytestmark = pytest.mark.spec

SPEC_ENV = "BRIA_SPEC_PATH"
_DEFAULT_SPEC = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "specs"
    / "bria-tailored-generation-openapi.yml"
)
_OPENAPI_KEYS = frozenset(
    {"openapi", "info", "servers", "paths", "components", "security", "tags", "externalDocs"}
)


# --- locating and loading the document ------------------------------------------------------------


def spec_path() -> Path:
    """Where the Bria document is looked for: ``$BRIA_SPEC_PATH`` or the shared folder."""
    configured = os.environ.get(SPEC_ENV)
    return Path(configured).expanduser() if configured else _DEFAULT_SPEC


def load_specs() -> tuple[OpenAPI, OpenAPI]:
    """(the document's ``paths``, its detached model block); skips if the file is absent."""
    path = spec_path()
    if not path.is_file():
        pytest.skip(f"Bria spec not found at {path}: conformance not checked")
    return _load(path)


@functools.cache
def _load(path: Path) -> tuple[OpenAPI, OpenAPI]:
    with path.open(encoding="utf-8") as handle:
        raw: dict[str, Any] = yaml.safe_load(handle)
    detached = {k: v for k, v in raw.items() if k not in _OPENAPI_KEYS and not k.startswith("x-")}
    main = {k: copy.deepcopy(v) for k, v in raw.items() if k not in detached}
    main["servers"] = [{"url": "/v2"}]  # the generation endpoints; tailored-gen overrides it
    _relative_servers(main["paths"])
    second = {**main, "paths": _relative_servers(_require_own_properties(copy.deepcopy(detached)))}
    return OpenAPI.from_dict(main), OpenAPI.from_dict(second)


def _relative_servers(paths: dict[str, Any]) -> dict[str, Any]:
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict) and "servers" in operation:
                operation["servers"] = [{"url": "/v1"}]
    return paths


def _require_own_properties(node: Any) -> Any:
    """In every oneOf, an object alternative without ``required`` requires its properties."""
    if isinstance(node, dict):
        for alternative in node.get("oneOf", []):
            if alternative.get("type") == "object" and "required" not in alternative:
                alternative["required"] = sorted(alternative.get("properties", {}))
        for value in node.values():
            _require_own_properties(value)
    elif isinstance(node, list):
        for value in node:
            _require_own_properties(value)
    return node


# --- validating one exchange ----------------------------------------------------------------------


def validate_exchange(
    request: httpx.Request, response: httpx.Response, *, check_request: bool = True
) -> None:
    """Validate against the document (and its detached block where it has the operation)."""
    main, detached = load_specs()
    problems = _problems(main, request, response, check_request, required=True)
    problems += _problems(detached, request, response, check_request, required=False)
    if problems:
        summary = f"{request.method} {request.url} -> {response.status_code}"
        raise AssertionError(
            f"{summary} does not conform to the Bria spec:\n" + "\n".join(problems)
        )


def assert_conforms(response: httpx.Response, *, check_request: bool = True) -> None:
    validate_exchange(response.request, response, check_request=check_request)


def _problems(
    api: OpenAPI,
    request: httpx.Request,
    response: httpx.Response,
    check_request: bool,
    *,
    required: bool,
) -> list[str]:
    adapted = OpenAPIRequest(request)

    def check_response() -> None:
        api.validate_response(adapted, OpenAPIResponse(response))

    def check_the_request() -> None:
        api.validate_request(adapted)

    checks: list[tuple[str, Callable[[], None]]] = [("response", check_response)]
    if check_request:
        checks.insert(0, ("request", check_the_request))
    problems: list[str] = []
    for side, check in checks:
        try:
            check()
        except (PathNotFound, OperationNotFound) as error:
            if required:
                problems.append(f"  {side}: {_describe(error)}")
            return problems  # the detached block does not describe this operation
        except OpenAPIError as error:
            problems.append(f"  {side}: {_describe(error)}")
    return problems


def _describe(error: BaseException) -> str:
    parts = [f"{type(error).__name__}: {error}"]
    cause = error.__cause__
    while cause is not None:
        parts.append(f"caused by {type(cause).__name__}: {cause}")
        cause = cause.__cause__
    return "; ".join(parts)


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _spec() -> None:
    """Skip (with the reason) before any work when the spec is not there."""
    load_specs()


def conforming(response: httpx.Response, status: int, *, check_request: bool = True) -> Any:
    assert response.status_code == status, response.text
    assert_conforms(response, check_request=check_request)
    return response.json() if response.content else None


# --- the simulator's traffic ----------------------------------------------------------------------


async def test_lifecycle_traffic_conforms(
    sim: BriaSimulator, api: httpx.AsyncClient, clock: ManualClock, dataset: int
) -> None:
    model_id = sim.add_model(dataset, training_mode="expert")
    one = f"/tailored-gen/models/{model_id}"
    conforming(await api.get(one), 200)
    body = {"total_training_steps": 1000, "checkpoint_interval": 250, "learning_rate": 0.0002}
    started = conforming(await api.post(f"{one}/start_training", json=body), 200)
    assert started["status"] == "InProgress"
    clock.advance(1800)
    assert conforming(await api.get(one), 200)["checkpoint_steps"] == ["250", "500"]
    for flag in ("true", "false"):
        params = {"include_training_parameters": flag}
        conforming(await api.get("/tailored-gen/models", params=params), 200)
    conforming(await api.post(f"{one}/stop_training"), 200)
    conforming(await api.get(one), 200)
    clock.advance(5)
    assert conforming(await api.get(one), 200)["status"] == "Stopped"
    conforming(await api.delete(one), 204)
    conforming(await api.get(one), 404)


@pytest.mark.parametrize("status", MODEL_STATUSES)
@pytest.mark.parametrize("version", [None, "fibo", "max"])
async def test_every_status_renders_a_conforming_model(
    sim: BriaSimulator, api: httpx.AsyncClient, status: str, version: str | None
) -> None:
    dataset = sim.add_dataset(sim.add_project(), training_version=version, caption_prefix="A ")
    model_id = sim.add_model(dataset, training_mode="expert", status=status)
    conforming(await api.get(f"/tailored-gen/models/{model_id}"), 200)
    listing = await api.get("/tailored-gen/models", params={"include_training_parameters": "true"})
    conforming(listing, 200)


async def test_datasets_and_projects_conform(
    sim: BriaSimulator, api: httpx.AsyncClient, dataset: int
) -> None:
    conforming(await api.get(f"/tailored-gen/datasets/{dataset}"), 200)
    conforming(await api.get(f"/tailored-gen/datasets/{dataset}", params={"max_images": 1}), 200)
    conforming(await api.get("/tailored-gen/datasets/99999"), 404)
    projects = conforming(await api.get("/tailored-gen/projects"), 200)
    conforming(await api.get(f"/tailored-gen/projects/{projects[0]['id']}"), 200)


async def test_documented_errors_conform(
    sim: BriaSimulator, api: httpx.AsyncClient, dataset: int
) -> None:
    created = sim.add_model(dataset, training_mode="expert")
    automatic = sim.add_model(dataset)
    running = sim.add_model(dataset, status="InProgress")
    draft = sim.add_model(sim.add_dataset(sim.add_project(), status="draft"))
    conforming(await api.post(f"/tailored-gen/models/{running}/start_training", json={}), 409)
    conforming(await api.post(f"/tailored-gen/models/{draft}/start_training", json={}), 412)
    conforming(await api.post("/tailored-gen/models/99999/start_training", json={}), 404)
    refused = await api.post(f"/tailored-gen/models/{automatic}/start_training", json={"rank": 8})
    assert "message" in conforming(refused, 400)
    conforming(await api.post(f"/tailored-gen/models/{created}/stop_training"), 409)
    conforming(await api.post("/tailored-gen/models/99999/stop_training"), 404)
    conforming(await api.delete(f"/tailored-gen/models/{running}"), 409)
    conforming(await api.delete("/tailored-gen/models/99999"), 404)


async def test_validation_errors_conform(
    sim: BriaSimulator, api: httpx.AsyncClient, dataset: int
) -> None:
    model_id = sim.add_model(dataset, training_mode="expert")
    start = f"/tailored-gen/models/{model_id}/start_training"
    too_many = await api.post(start, json={"total_training_steps": 1_000_000})
    # The request breaks the spec on purpose; the answer must still be the documented shape.
    assert conforming(too_many, 400, check_request=False)["errors"][0]["field_input"] == "1000000"
    late = await api.post(start, json={"total_training_steps": 200, "checkpoint_interval": 300})
    conforming(late, 400)


async def test_auth_plan_and_fault_answers_conform(
    sim: BriaSimulator, api: httpx.AsyncClient, dataset: int
) -> None:
    model_id = sim.add_model(dataset)
    one = f"/tailored-gen/models/{model_id}"
    no_token = await api.get(one, headers={"api_token": "wrong"})
    conforming(no_token, 401)
    sim.set_forbidden(True)
    for response in (
        await api.get(one),
        await api.post(f"{one}/start_training", json={}),
        await api.post(f"{one}/stop_training"),
        await api.delete(one),
        await api.get("/tailored-gen/models"),
    ):
        assert isinstance(conforming(response, 403), str)
    sim.set_forbidden(False)
    sim.inject_fault(status=429, retry_after=1)
    conforming(await api.get(one), 429)
    sim.inject_fault(status=500, method="POST")
    conforming(await api.post(f"{one}/start_training", json={}), 500)


# --- the check itself -----------------------------------------------------------------------------


def test_the_validator_rejects_what_the_spec_forbids() -> None:
    """Guards against a vacuous check: known-bad traffic must fail validation."""
    headers = {"api_token": TOKEN}
    get_one = httpx.Request("GET", "http://sim/v1/tailored-gen/models/5", headers=headers)
    model = {
        "id": 5,
        "name": "m",
        "status": "Created",
        "training_mode": "expert",
        "training_parameters": {},
        "checkpoint_steps": [],
        "created_at": "2025-01-06T09:00:00Z",
    }
    validate_exchange(get_one, httpx.Response(200, json=model, request=get_one))
    for broken in (
        {**model, "status": "Running"},
        {**model, "training_mode": "manual"},
        {**model, "checkpoint_steps": [500]},  # the spec types steps as strings
        {**model, "created_at": "2025-08-20T06:06:05.849402"},  # Bria's own zone-less example
    ):
        with pytest.raises(AssertionError):
            validate_exchange(get_one, httpx.Response(200, json=broken, request=get_one))
    no_token = httpx.Request("GET", "http://sim/v1/tailored-gen/models/5")
    with pytest.raises(AssertionError, match="api_token"):
        validate_exchange(no_token, httpx.Response(200, json=model, request=no_token))

    start = httpx.Request(
        "POST", "http://sim/v1/tailored-gen/models/5/start_training", headers=headers, json={}
    )
    with pytest.raises(AssertionError):
        validate_exchange(start, httpx.Response(200, json=model, request=start))  # not InProgress
    with pytest.raises(AssertionError):
        validate_exchange(start, httpx.Response(403, json={"message": "no"}, request=start))
    with pytest.raises(AssertionError):  # only the detached block documents 400 bodies
        validate_exchange(start, httpx.Response(400, json={"errors": "x"}, request=start))
    with pytest.raises(AssertionError, match="ResponseNotFound"):
        validate_exchange(start, httpx.Response(418, json={}, request=start))
    delete = httpx.Request("DELETE", "http://sim/v1/tailored-gen/models/5", headers=headers)
    validate_exchange(delete, httpx.Response(409, json={"message": "busy"}, request=delete))
    with pytest.raises(AssertionError, match="not valid"):  # the detached block's 409 body
        validate_exchange(delete, httpx.Response(409, json={"message": 5}, request=delete))


def test_missing_spec_skips_with_a_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    absent = tmp_path / "nowhere" / "bria.yml"
    monkeypatch.setenv(SPEC_ENV, str(absent))
    assert spec_path() == absent
    with pytest.raises(pytest.skip.Exception, match=r"Bria spec not found at .*nowhere"):
        load_specs()
