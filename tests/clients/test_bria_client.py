"""The Bria client against httpx.MockTransport: header, errors per operation, retries, POSTs."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.errors import (
    AuthError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    ProviderError,
    ProviderUnavailable,
)
from bot.http import RetryPolicy
from bot.providers.bria.client import MESSAGES, BriaClient, Operation, bria_text, message_for
from tests.support.waits import Waits

BASE = "https://engine.example/v1"
TOKEN = "bria-secret-token-123"

Handler = Callable[[httpx.Request], httpx.Response]


class Api:
    """A scripted Bria: per (method, path) handlers; records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], list[Handler]] = {}

    def on(self, method: str, path: str, *handlers: Handler) -> None:
        self.routes[(method, path)] = list(handlers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        handlers = self.routes.get((request.method, request.url.path.removeprefix("/v1")))
        if not handlers:
            return httpx.Response(404, json={"detail": "Not Found"})
        # Each scripted answer is used once; the last one repeats.
        return handlers.pop(0)(request) if len(handlers) > 1 else handlers[0](request)

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if r.method == method and r.url.path.removeprefix("/v1") == path
        ]


def model(model_id: int = 42, status: str = "Created", **extra: Any) -> dict[str, Any]:
    return {
        "id": model_id,
        "name": "Lora",
        "description": "",
        "status": status,
        "training_mode": "expert",
        "active_model_version": "default",
        "training_parameters": {},
        "checkpoint_steps": [],
        "project_id": 1,
        "dataset_id": 7,
        "created_at": "2025-08-20T06:06:05.849402",  # no zone, as Bria's examples
        **extra,
    }


def ok(body: object, status: int = 200) -> Handler:
    return lambda _request: httpx.Response(status, json=body)


def answer(status: int, body: object = None, **headers: str) -> Handler:
    if body is None:
        return lambda _request: httpx.Response(status, headers=headers)
    if isinstance(body, bytes):
        return lambda _request: httpx.Response(status, content=body, headers=headers)
    return lambda _request: httpx.Response(status, json=body, headers=headers)


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("slow", request=request)


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
async def client(api: Api, waits: Waits) -> AsyncIterator[BriaClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
        yield BriaClient(
            token=SecretStr(TOKEN),
            base_url=BASE + "/",  # a trailing slash must not double up
            http=http,
            retry=RetryPolicy(attempts=4, sleep=waits),
        )


MODEL_PATH = "/tailored-gen/models/42"
START = "/tailored-gen/models/42/start_training"
STOP = "/tailored-gen/models/42/stop_training"


# --- headers, reading -----------------------------------------------------------------------------


async def test_api_token_header_on_every_call_and_never_in_urls(
    api: Api, client: BriaClient
) -> None:
    api.on("GET", "/tailored-gen/models", ok([model()]))
    api.on("GET", MODEL_PATH, ok(model()), ok(model(status="InProgress")))
    api.on("GET", "/tailored-gen/datasets/7", ok({"id": 7, "status": "completed"}))
    api.on("POST", START, ok(model(status="InProgress")))
    api.on("POST", STOP, ok({"message": "Training job successfully stopped"}))
    api.on("DELETE", MODEL_PATH, answer(204))
    await client.list_models()
    await client.get_model(42)
    await client.get_dataset(7)
    await client.start_training(42, {})
    await client.stop_training(42)
    await client.delete_model(42)
    assert len(api.requests) == 6
    for request in api.requests:
        assert request.headers["api_token"] == TOKEN
        assert "authorization" not in request.headers
        assert TOKEN not in str(request.url)
        assert str(request.url).startswith(BASE + "/tailored-gen/")


async def test_the_token_never_reaches_the_logs(
    api: Api, client: BriaClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.on("GET", MODEL_PATH, answer(503), ok(model(status="InProgress")))
    api.on("POST", START, answer(500))
    await client.start_training(42, {})
    assert caplog.records  # the retry and the ambiguous start were logged
    assert TOKEN not in caplog.text


async def test_list_is_one_call_with_training_parameters(api: Api, client: BriaClient) -> None:
    api.on(
        "GET",
        "/tailored-gen/models",
        ok([model(1), model(2, "InProgress", training_parameters={"rank": 64})]),
    )
    models = await client.list_models()
    assert [(m.id, m.status) for m in models] == [(1, "Created"), (2, "InProgress")]
    assert models[1].training_parameters == {"rank": 64}
    assert len(api.requests) == 1
    assert api.requests[0].url.params["include_training_parameters"] == "true"
    await client.list_models(include_training_parameters=False)
    assert api.requests[1].url.params["include_training_parameters"] == "false"


async def test_models_tolerate_unknown_values_and_naive_times(api: Api, client: BriaClient) -> None:
    api.on(
        "GET",
        MODEL_PATH,
        ok(
            model(
                status="syncing",
                brand_new_field={"x": 1},
                checkpoint_steps=["500", "1000"],
                training_parameters=None,
                updated_at="not a date",
            )
        ),
    )
    found = await client.get_model(42)
    assert found.status == "syncing"
    assert found.created_at == datetime(2025, 8, 20, 6, 6, 5, 849402, tzinfo=UTC)
    assert found.updated_at is None
    assert found.checkpoint_steps == [500, 1000]
    assert found.training_parameters == {}
    assert found.model_extra == {"brand_new_field": {"x": 1}}


async def test_dataset_is_read_with_one_image_at_most(api: Api, client: BriaClient) -> None:
    api.on("GET", "/tailored-gen/datasets/7", ok({"id": 7, "status": "draft", "project_id": 1}))
    dataset = await client.get_dataset(7)
    assert (dataset.id, dataset.status, dataset.completed) == (7, "draft", False)
    assert api.requests[0].url.params["max_images"] == "1"


async def test_an_unreadable_answer_is_a_provider_error(api: Api, client: BriaClient) -> None:
    api.on("GET", MODEL_PATH, answer(200, b"<html>maintenance</html>"))
    with pytest.raises(ProviderError, match="could not read"):
        await client.get_model(42)
    api.on("GET", "/tailored-gen/models", ok({"models": []}))
    with pytest.raises(ProviderError, match="a list of models was expected"):
        await client.list_models()


# --- error answers, per operation -----------------------------------------------------------------

CALLS: dict[str, Callable[[BriaClient], Any]] = {
    "list_models": lambda c: c.list_models(),
    "get_model": lambda c: c.get_model(42),
    "get_dataset": lambda c: c.get_dataset(7),
    "start_training": lambda c: c.start_training(42, {"rank": 64}),
    "stop_training": lambda c: c.stop_training(42),
    "delete_model": lambda c: c.delete_model(42),
}
ROUTES = {
    "list_models": ("GET", "/tailored-gen/models"),
    "get_model": ("GET", MODEL_PATH),
    "get_dataset": ("GET", "/tailored-gen/datasets/7"),
    "start_training": ("POST", START),
    "stop_training": ("POST", STOP),
    "delete_model": ("DELETE", MODEL_PATH),
}

DOCUMENTED = [
    # (operation, status, exception, message)
    *[
        (
            op,
            401,
            AuthError,
            "Bria refused the API token (BRIA_API_TOKEN): check that it is set and still valid",
        )
        for op in CALLS
    ],
    *[(op, 403, AuthError, "Bria refused: your plan or quota does not allow this") for op in CALLS],
    ("get_model", 404, NotFoundError, "Bria has no model 42"),
    ("start_training", 404, NotFoundError, "Bria has no model 42"),
    ("stop_training", 404, NotFoundError, "Bria has no model 42"),
    ("delete_model", 404, NotFoundError, "Bria has no model 42"),
    ("get_dataset", 404, NotFoundError, "Bria has no dataset 7"),
    (
        "start_training",
        409,
        ConflictError,
        "Model 42 is already training, or finished/stopped training "
        "(a stopped model cannot resume: create a new model)",
    ),
    ("stop_training", 409, ConflictError, "Model 42 is not training"),
    ("delete_model", 409, ConflictError, "Model 42 is still training: stop it first"),
    (
        "start_training",
        412,
        ConflictError,
        "The dataset of model 42 is not completed: mark it completed in Bria first",
    ),
    ("start_training", 400, BadRequestError, "Bria rejected the training parameters of model 42"),
    ("get_dataset", 400, BadRequestError, "Bria rejected the request"),
]


@pytest.mark.parametrize(("operation", "status", "exception", "message"), DOCUMENTED)
async def test_each_documented_error_has_its_class_and_sentence(
    api: Api,
    client: BriaClient,
    operation: str,
    status: int,
    exception: type[ProviderError],
    message: str,
) -> None:
    method, path = ROUTES[operation]
    api.on(method, path, answer(status, {"other": "shape"}))  # Bria says nothing we can read
    with pytest.raises(exception) as caught:
        await CALLS[operation](client)
    assert type(caught.value) is exception
    assert caught.value.message == message
    assert str(caught.value) == message
    assert caught.value.status_code == status
    assert caught.value.provider == "bria"
    assert len(api.requests) == 1  # a refusal is never retried, nor looked up


@pytest.mark.parametrize(
    ("operation", "status", "message"),
    [
        ("get_model", 429, "Bria is rate-limiting requests: try again in a minute"),
        ("get_model", 500, "Bria had an internal error: try again later"),
        ("delete_model", 500, "Bria had an internal error: try again later"),
        ("list_models", 503, "Bria is unavailable right now: try again later"),
        ("start_training", 429, "Bria is rate-limiting requests: try again in a minute"),
        ("stop_training", 429, "Bria is rate-limiting requests: try again in a minute"),
    ],
)
async def test_rate_limits_and_server_errors_are_unavailable_after_retries(
    api: Api, client: BriaClient, operation: str, status: int, message: str
) -> None:
    method, path = ROUTES[operation]
    api.on(method, path, answer(status))
    with pytest.raises(ProviderUnavailable) as caught:
        await CALLS[operation](client)
    assert caught.value.message == message
    assert len(api.calls(method, path)) == 4  # attempts=4 (a 429 is safe to repeat on a POST)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'"Quota exceeded: upgrade your plan."', "Quota exceeded: upgrade your plan."),
        (b'{"message": "Access denied: no such feature"}', "Access denied: no such feature"),
        (b'{"error": "plan expired"}', "plan expired"),
        (b'{"error": {"message": "nested words"}}', "nested words"),
        (b'{"detail": "seat limit"}', "seat limit"),
        (b"Forbidden by plan", "Forbidden by plan"),
    ],
)
async def test_403_carries_brias_text_in_any_shape(
    api: Api, client: BriaClient, body: bytes, expected: str
) -> None:
    api.on("POST", START, answer(403, body))
    with pytest.raises(AuthError) as caught:
        await client.start_training(42, {})
    assert caught.value.message == (
        f"Bria refused: your plan or quota does not allow this ({expected})"
    )


async def test_validation_errors_are_summarised(api: Api, client: BriaClient) -> None:
    errors = {
        "errors": [
            {
                "msg": "Input should be less than or equal to 5000",
                "field_name": "total_training_steps",
                "field_input": "1000000",
            }
        ]
    }
    api.on("POST", START, answer(400, errors))
    with pytest.raises(BadRequestError) as caught:
        await client.start_training(42, {"total_training_steps": 1_000_000})
    assert caught.value.message == (
        "Bria rejected the training parameters of model 42 "
        "(total_training_steps: Input should be less than or equal to 5000)"
    )


def test_brias_text_is_left_out_when_long_html_or_just_the_reason_phrase() -> None:
    request = httpx.Request("GET", BASE)
    long_text = httpx.Response(500, text="x" * 400, request=request)
    html = httpx.Response(502, text="<html><body>Bad gateway</body></html>", request=request)
    phrase = httpx.Response(500, json={"message": "Internal server error"}, request=request)
    spaced = httpx.Response(409, text="Training already\n  stopped", request=request)
    assert [bria_text(r) for r in (long_text, html, phrase)] == [None, None, None]
    assert bria_text(spaced) == "Training already stopped"


def test_the_message_table_covers_every_documented_answer() -> None:
    ops: tuple[Operation, ...] = (
        "list_models",
        "get_model",
        "get_dataset",
        "start_training",
        "stop_training",
        "delete_model",
    )
    for op in ops:
        for status in (400, 401, 403, 429, 500):
            assert not message_for(op, status, model_id=1, dataset_id=2).startswith("Bria answered")
    for key in [("start_training", 409), ("start_training", 412), ("stop_training", 409)]:
        assert key in MESSAGES
    assert message_for("get_model", 418) == "Bria answered HTTP 418"


# --- retries --------------------------------------------------------------------------------------


async def test_get_is_retried_on_429_waiting_retry_after(
    api: Api, client: BriaClient, waits: Waits
) -> None:
    api.on(
        "GET",
        MODEL_PATH,
        answer(429, {"message": "Request limit exceeded."}, **{"Retry-After": "7"}),
        answer(503),
        ok(model()),
    )
    assert (await client.get_model(42)).id == 42
    assert len(api.calls("GET", MODEL_PATH)) == 3
    assert waits.seconds[0] == 7.0
    assert 0 <= waits.seconds[1] <= 8.0  # backoff with full jitter, capped


async def test_get_is_retried_after_a_timeout(api: Api, client: BriaClient) -> None:
    api.on("GET", MODEL_PATH, timeout, ok(model()))
    assert (await client.get_model(42)).id == 42
    assert len(api.calls("GET", MODEL_PATH)) == 2


async def test_timeouts_that_never_end_are_unavailable(api: Api, client: BriaClient) -> None:
    api.on("GET", MODEL_PATH, timeout)
    with pytest.raises(ProviderUnavailable, match="Bria did not answer in time"):
        await client.get_model(42)
    assert len(api.calls("GET", MODEL_PATH)) == 4


async def test_delete_is_retried_and_a_404_after_a_retry_means_deleted(
    api: Api, client: BriaClient
) -> None:
    api.on("DELETE", MODEL_PATH, answer(500), answer(404, {"message": "Model not found"}))
    await client.delete_model(42)
    assert len(api.calls("DELETE", MODEL_PATH)) == 2


async def test_a_retry_after_beyond_the_cap_is_not_waited_out(
    api: Api, client: BriaClient, waits: Waits
) -> None:
    api.on("GET", MODEL_PATH, answer(429, None, **{"Retry-After": "3600"}))
    with pytest.raises(ProviderUnavailable, match="rate-limiting"):
        await client.get_model(42)
    assert waits.seconds == []


# --- start_training: never blindly retried --------------------------------------------------------


async def test_start_sends_only_the_given_body_and_returns_the_model(
    api: Api, client: BriaClient
) -> None:
    resolved = {"rank": 64, "learning_rate": 0.0001, "lr_scheduler": "constant_with_warmup"}
    api.on("POST", START, ok(model(status="InProgress", training_parameters=resolved)))
    started = await client.start_training(42, {"rank": 64})
    assert started.status == "InProgress"
    assert started.training_parameters == resolved
    request = api.calls("POST", START)[0]
    assert json.loads(request.content) == {"rank": 64}
    assert request.headers["content-type"] == "application/json"


async def test_start_with_defaults_sends_an_empty_object(api: Api, client: BriaClient) -> None:
    api.on("POST", START, ok(model(status="InProgress")))
    await client.start_training(42, {})
    assert api.calls("POST", START)[0].content == b"{}"


@pytest.mark.parametrize(
    "failure", [answer(500), answer(502), timeout], ids=["500", "502", "timeout"]
)
async def test_ambiguous_start_is_looked_up_not_retried_and_found_started(
    api: Api, client: BriaClient, failure: Handler
) -> None:
    api.on("POST", START, failure)
    api.on("GET", MODEL_PATH, ok(model(status="InProgress", training_parameters={"rank": 128})))
    started = await client.start_training(42, {})
    assert started.status == "InProgress"
    assert len(api.calls("POST", START)) == 1
    assert len(api.calls("GET", MODEL_PATH)) == 1


@pytest.mark.parametrize(
    ("failure", "cause"),
    [(answer(500), "Bria had an internal error"), (timeout, "Bria did not answer in time")],
    ids=["500", "timeout"],
)
async def test_ambiguous_start_not_in_progress_says_nothing_was_started(
    api: Api, client: BriaClient, failure: Handler, cause: str
) -> None:
    api.on("POST", START, failure)
    api.on("GET", MODEL_PATH, ok(model(status="Created")))
    with pytest.raises(ProviderUnavailable) as caught:
        await client.start_training(42, {})
    assert caught.value.message.startswith(cause)
    assert caught.value.message.endswith("; model 42 is Created, so nothing was started")
    assert len(api.calls("POST", START)) == 1


async def test_ambiguous_start_whose_lookup_fails_says_so(api: Api, client: BriaClient) -> None:
    api.on("POST", START, answer(500))
    api.on("GET", MODEL_PATH, answer(500))
    with pytest.raises(ProviderUnavailable, match=r"could not be asked whether model 42 started"):
        await client.start_training(42, {})
    assert len(api.calls("POST", START)) == 1


async def test_start_on_429_waits_and_tries_again(
    api: Api, client: BriaClient, waits: Waits
) -> None:
    api.on(
        "POST",
        START,
        answer(429, {"message": "Request limit exceeded."}, **{"Retry-After": "2"}),
        ok(model(status="InProgress")),
    )
    assert (await client.start_training(42, {})).status == "InProgress"
    assert waits.seconds == [2.0]
    assert len(api.calls("POST", START)) == 2
    assert api.calls("GET", MODEL_PATH) == []


async def test_start_with_a_refused_connection_is_retried_then_unavailable(
    api: Api, client: BriaClient
) -> None:
    # The request never reached Bria: trying again cannot start it twice.
    api.on("POST", START, refused)
    with pytest.raises(ProviderUnavailable, match="could not be reached"):
        await client.start_training(42, {})
    assert len(api.calls("POST", START)) == 4
    assert api.calls("GET", MODEL_PATH) == []


# --- stop_training --------------------------------------------------------------------------------


async def test_stop_returns_brias_words(api: Api, client: BriaClient) -> None:
    api.on("POST", STOP, ok({"message": "Training job successfully stopped"}))
    assert await client.stop_training(42) == "Training job successfully stopped"
    assert api.calls("POST", STOP)[0].content == b""


async def test_stop_without_a_body_has_a_default_answer(api: Api, client: BriaClient) -> None:
    api.on("POST", STOP, answer(200))
    assert await client.stop_training(42) == "Training stop requested"


async def test_ambiguous_stop_is_looked_up(api: Api, client: BriaClient) -> None:
    api.on("POST", STOP, timeout)
    api.on("GET", MODEL_PATH, ok(model(status="Stopping")), ok(model(status="InProgress")))
    assert await client.stop_training(42) == "Training of model 42 is stopping"
    with pytest.raises(ProviderUnavailable, match="model 42 is InProgress, so nothing was stopped"):
        await client.stop_training(42)
    assert len(api.calls("POST", STOP)) == 2  # one per call, never repeated
