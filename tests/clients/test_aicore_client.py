"""The AI Core client against httpx.MockTransport: auth, headers, errors, retries, bulk, logs,
configurations."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.errors import (
    AuthError,
    BadRequestError,
    InputError,
    NotFoundError,
    ProviderUnavailable,
)
from bot.http import RetryPolicy
from bot.providers.aicore.client import AICoreClient
from bot.providers.aicore.models import Execution
from bot.providers.aicore.provider import AICoreProvider
from bot.settings import AICoreCredentials
from tests.support.waits import Waits

BASE = "https://ai.example/v2"
AUTH = "https://auth.example/oauth/token"
CREDS = AICoreCredentials(
    client_id="cid", client_secret=SecretStr("csecret"), auth_url=AUTH, base_url=BASE, source="test"
)

Handler = Callable[[httpx.Request], httpx.Response]


class Api:
    """A scripted AI API: a token endpoint plus per-path handlers; records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0
        self.token_requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], list[Handler]] = {}
        self.expires_in = 3600

    def on(self, method: str, path: str, *handlers: Handler) -> None:
        self.routes[(method, path)] = list(handlers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == AUTH:
            self.token_requests.append(request)
            self.tokens_issued += 1
            return httpx.Response(
                200,
                json={
                    "access_token": f"tok{self.tokens_issued}",
                    "expires_in": self.expires_in,
                    "token_type": "bearer",
                },
            )
        self.requests.append(request)
        path = request.url.path.removeprefix("/v2")
        handlers = self.routes.get((request.method, path))
        if not handlers:
            return error(404, "01010001", "not scripted")
        # Each scripted answer is used once; the last one repeats.
        return handlers.pop(0)(request) if len(handlers) > 1 else handlers[0](request)

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if r.method == method and r.url.path.removeprefix("/v2") == path
        ]


def error(
    status: int,
    code: str,
    message: str,
    *,
    request_id: str = "req-42",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return httpx.Response(
        status,
        headers=headers,
        json={"error": {"code": code, "message": message, "requestId": request_id}},
    )


def execution(
    exec_id: str = "e0001abc", status: str = "RUNNING", **extra: object
) -> dict[str, object]:
    return {
        "id": exec_id,
        "configurationId": "cfg1",
        "status": status,
        "createdAt": "2026-11-24T10:00:00Z",
        "modifiedAt": "2026-11-24T10:00:00Z",
        **extra,
    }


def ok(body: object, status: int = 200) -> Handler:
    return lambda _request: httpx.Response(status, json=body)


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def clock() -> list[float]:
    """The client's monotonic clock, which a test moves by hand."""
    return [1000.0]


@pytest.fixture
async def client(api: Api, waits: Waits, clock: list[float]) -> AsyncIterator[AICoreClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(api)) as http:
        yield AICoreClient(
            credentials=CREDS,
            http=http,
            retry=RetryPolicy(attempts=4, sleep=waits),
            clock=lambda: clock[0],
        )


async def test_token_is_cached_and_refreshed_before_it_expires(
    api: Api, client: AICoreClient, clock: list[float]
) -> None:
    api.on("GET", "/lm/executions/e0001abc", ok(execution()))
    await client.get_execution("default", "e0001abc")
    await client.get_execution("default", "e0001abc")
    assert api.tokens_issued == 1
    clock[0] += 1800 + 1  # past half of the 3600 s lifetime: refresh early
    await client.get_execution("default", "e0001abc")
    assert api.tokens_issued == 2
    assert api.requests[-1].headers["Authorization"] == "Bearer tok2"


async def test_a_401_refreshes_the_token_once_and_retries(api: Api, client: AICoreClient) -> None:
    api.on(
        "GET",
        "/lm/executions/e0001abc",
        lambda _r: error(401, "401", "token expired"),
        ok(execution()),
    )
    run = await client.get_execution("default", "e0001abc")
    assert run.status == "RUNNING"
    assert api.tokens_issued == 2


async def test_a_second_401_is_an_auth_error(api: Api, client: AICoreClient) -> None:
    api.on("GET", "/lm/executions/e0001abc", lambda _r: error(401, "401", "no access"))
    with pytest.raises(AuthError):
        await client.get_execution("default", "e0001abc")
    assert len(api.requests) == 2


async def test_token_request_is_client_credentials_with_basic_auth(
    api: Api, client: AICoreClient
) -> None:
    api.on("GET", "/lm/meta", ok({"aiApi": {"version": "2"}}))
    await client.meta()
    request = api.token_requests[0]
    assert request.method == "POST"
    assert b"grant_type=client_credentials" in request.content
    assert request.headers["Authorization"].startswith("Basic ")
    assert "csecret" not in str(request.url)
    assert "AI-Resource-Group" not in api.requests[0].headers  # /lm/meta takes none


async def test_resource_group_header_on_every_call_including_logs(
    api: Api, client: AICoreClient
) -> None:
    api.on("GET", "/lm/executions/e0001abc", ok(execution()))
    api.on("GET", "/lm/executions/e0001abc/logs", ok({"data": {"result": []}}))
    api.on("GET", "/lm/executions", ok({"count": 0, "resources": []}))
    run = await client.get_execution("team-a", "e0001abc")
    await client.tail_logs("team-a", run, 10)
    await client.list_executions("team-a")
    assert [r.headers["AI-Resource-Group"] for r in api.requests] == ["team-a"] * 3


async def test_error_body_becomes_an_error_with_message_code_and_request_id(
    api: Api, client: AICoreClient
) -> None:
    api.on(
        "GET",
        "/lm/executions/nope1234",
        lambda _r: error(404, "01010020", "Execution not found", request_id="abc-123"),
    )
    with pytest.raises(NotFoundError) as caught:
        await client.get_execution("default", "nope1234")
    assert caught.value.request_id == "abc-123"
    assert "Execution not found" in caught.value.user_text()
    assert "abc-123" in caught.value.user_text()


async def test_get_is_retried_on_429_waiting_retry_after(
    api: Api, client: AICoreClient, waits: Waits
) -> None:
    api.on(
        "GET",
        "/lm/executions/e0001abc",
        lambda _r: error(429, "429", "slow down", headers={"Retry-After": "7"}),
        lambda _r: error(503, "503", "busy"),
        ok(execution()),
    )
    assert (await client.get_execution("default", "e0001abc")).id == "e0001abc"
    assert len(api.calls("GET", "/lm/executions/e0001abc")) == 3
    assert waits.seconds[0] == 7.0
    assert 0 <= waits.seconds[1] <= 8.0  # backoff with full jitter, capped


async def test_retries_give_up_with_unavailable_and_the_request_id(
    api: Api, client: AICoreClient
) -> None:
    api.on(
        "GET", "/lm/executions/e0001abc", lambda _r: error(500, "500", "boom", request_id="r-500")
    )
    with pytest.raises(ProviderUnavailable) as caught:
        await client.get_execution("default", "e0001abc")
    assert caught.value.request_id == "r-500"
    assert len(api.calls("GET", "/lm/executions/e0001abc")) == 4


async def test_a_retry_after_beyond_the_cap_is_not_waited_out(
    api: Api, client: AICoreClient, waits: Waits
) -> None:
    api.on(
        "GET",
        "/lm/executions/e0001abc",
        lambda _r: error(429, "429", "later", headers={"Retry-After": "3600"}),
    )
    with pytest.raises(ProviderUnavailable):
        await client.get_execution("default", "e0001abc")
    assert waits.seconds == []


async def test_start_is_not_retried_on_500_and_finds_the_run_it_started(
    api: Api, client: AICoreClient
) -> None:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    api.on("POST", "/lm/executions", lambda _r: error(500, "500", "gateway hiccup"))
    api.on(
        "GET",
        "/lm/executions",
        ok(
            {
                "count": 2,
                "resources": [
                    execution("old00001", "COMPLETED", createdAt="2020-01-01T00:00:00Z"),
                    execution("new00001", "PENDING", createdAt=now),
                ],
            }
        ),
    )
    run = await client.start_execution("default", "cfg1")
    assert run.id == "new00001"
    assert len(api.calls("POST", "/lm/executions")) == 1
    lookup = api.calls("GET", "/lm/executions")[0]
    assert lookup.url.params["configurationId"] == "cfg1"


async def test_start_after_an_ambiguous_failure_with_no_new_run_says_nothing_started(
    api: Api, client: AICoreClient
) -> None:
    api.on("POST", "/lm/executions", lambda _r: error(502, "502", "bad gateway"))
    api.on("GET", "/lm/executions", ok({"count": 0, "resources": []}))
    with pytest.raises(ProviderUnavailable, match="nothing was started"):
        await client.start_execution("default", "cfg1")
    assert len(api.calls("POST", "/lm/executions")) == 1


async def test_start_timeout_is_looked_up_not_retried(api: Api, client: AICoreClient) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    api.on("POST", "/lm/executions", timeout)
    api.on("GET", "/lm/executions", ok({"count": 0, "resources": []}))
    with pytest.raises(ProviderUnavailable):
        await client.start_execution("default", "cfg1")
    assert len(api.calls("POST", "/lm/executions")) == 1
    assert len(api.calls("GET", "/lm/executions")) == 1


async def test_start_on_429_waits_and_tries_again(
    api: Api, client: AICoreClient, waits: Waits
) -> None:
    api.on(
        "POST",
        "/lm/executions",
        lambda _r: error(429, "429", "busy", headers={"Retry-After": "2"}),
        ok({"id": "new00002", "message": "AiExecution acknowledged"}, 202),
    )
    api.on("GET", "/lm/executions/new00002", ok(execution("new00002", "PENDING")))
    run = await client.start_execution("default", "cfg1")
    assert run.id == "new00002" and waits.seconds == [2.0]
    assert json.loads(api.calls("POST", "/lm/executions")[0].content) == {"configurationId": "cfg1"}


async def test_start_with_a_4xx_is_an_error_without_lookup(api: Api, client: AICoreClient) -> None:
    api.on("POST", "/lm/executions", lambda _r: error(404, "01020001", "Configuration not found"))
    with pytest.raises(NotFoundError, match="Configuration not found"):
        await client.start_execution("default", "cfg1")
    assert api.calls("GET", "/lm/executions") == []


async def test_bulk_uses_merge_patch_and_reads_partial_success(
    api: Api, client: AICoreClient
) -> None:
    capabilities = {"bulkUpdates": {"executions": True}}
    api.on("GET", "/lm/meta", ok({"aiApi": {"capabilities": capabilities}}))
    api.on(
        "PATCH",
        "/lm/executions",
        ok(
            {
                "executions": [
                    {"id": "a0000001", "message": "Execution modification scheduled"},
                    {
                        "id": "b0000002",
                        "error": {
                            "code": "01010020",
                            "message": "Execution not found",
                            "requestId": "r-b",
                        },
                    },
                ]
            },
            202,
        ),
    )
    outcomes = await client.modify_many("default", ["a0000001", "b0000002"], "STOPPED")
    request = api.calls("PATCH", "/lm/executions")[0]
    assert request.headers["Content-Type"] == "application/merge-patch+json"
    assert json.loads(request.content) == {
        "executions": [
            {"id": "a0000001", "targetStatus": "STOPPED"},
            {"id": "b0000002", "targetStatus": "STOPPED"},
        ]
    }
    assert [(o.run_id, o.ok) for o in outcomes] == [("a0000001", True), ("b0000002", False)]
    assert outcomes[1].request_id == "r-b" and outcomes[1].code == "01010020"


async def test_without_bulk_capability_single_calls_are_made(
    api: Api, client: AICoreClient
) -> None:
    api.on("GET", "/lm/meta", ok({"aiApi": {"capabilities": {}}}))
    api.on(
        "DELETE",
        "/lm/executions/a0000001",
        ok({"id": "a0000001", "message": "Deletion scheduled"}, 202),
    )
    api.on(
        "DELETE", "/lm/executions/b0000002", lambda _r: error(412, "412", "Execution is running")
    )
    outcomes = await client.modify_many("default", ["a0000001", "b0000002"], "DELETED")
    assert api.calls("PATCH", "/lm/executions") == []
    assert [(o.run_id, o.ok, o.message) for o in outcomes] == [
        ("a0000001", True, "Deletion scheduled"),
        ("b0000002", False, "Execution is running"),
    ]


async def test_logs_start_at_submission_and_come_back_oldest_first(
    api: Api, client: AICoreClient
) -> None:
    api.on(
        "GET",
        "/lm/executions/e0001abc/logs",
        ok(
            {
                "data": {
                    "result": [
                        {"timestamp": "2026-11-24T10:05:00.123456789Z", "msg": "newest"},
                        {"timestamp": "2026-11-24T10:04:00Z", "msg": "older"},
                    ]
                }
            }
        ),
    )
    lines = await client.tail_logs(
        "default", Execution(id="e0001abc", submissionTime="2026-11-24T08:00:00Z"), 2
    )
    params = api.calls("GET", "/lm/executions/e0001abc/logs")[0].url.params
    assert params["start"].startswith("2026-11-24T08:00:00") and params["start"].endswith("Z")
    assert params["$order"] == "desc" and params["$top"] == "2"
    assert [line.msg for line in lines] == ["older", "newest"]


async def test_list_pages_until_a_short_page(api: Api, client: AICoreClient) -> None:
    pages = [
        {"count": 3, "resources": [execution("a0000001"), execution("b0000002")]},
        {"count": 3, "resources": [execution("c0000003")]},
    ]
    api.on("GET", "/lm/executions", ok(pages[0]), ok(pages[1]))
    runs = await client.list_executions("default", status="RUNNING", page_size=2)
    assert [r.id for r in runs] == ["a0000001", "b0000002", "c0000003"]
    skips = [r.url.params["$skip"] for r in api.calls("GET", "/lm/executions")]
    assert skips == ["0", "2"]
    assert api.calls("GET", "/lm/executions")[0].url.params["status"] == "RUNNING"


async def test_unknown_status_and_fields_are_tolerated(api: Api, client: AICoreClient) -> None:
    api.on(
        "GET",
        "/lm/executions/e0001abc",
        ok(
            execution(
                status="QUEUED_SOMEWHERE",
                brandNewField={"x": 1},
                createdAt="2024-09-18T13:19:40.527449310+00:00",
            )
        ),
    )
    run = await client.get_execution("default", "e0001abc")
    assert run.status == "QUEUED_SOMEWHERE"
    assert run.created_at == datetime(2024, 9, 18, 13, 19, 40, 527449, tzinfo=UTC)


# --- configurations ---------------------------------------------------------------------------


def configuration(config_id: str = "cfg-train", **extra: object) -> dict[str, object]:
    return {
        "id": config_id,
        "name": "Train a small model",
        "scenarioId": "demo",
        "executableId": "trainer",
        "parameterBindings": [{"key": "epochs", "value": "3"}],
        "inputArtifactBindings": [{"key": "data", "artifactId": "art-0001"}],
        "createdAt": "2026-11-24T10:00:00Z",
        **extra,
    }


async def test_search_asks_for_a_case_insensitive_substring_of_the_name(
    api: Api, client: AICoreClient
) -> None:
    api.on("GET", "/lm/configurations", ok({"count": 7, "resources": [configuration()]}))
    found = await client.list_configurations("team-a", search="Small model", top=5)
    [request] = api.calls("GET", "/lm/configurations")
    assert dict(request.url.params) == {
        "$top": "5",
        "$search": "Small model",
        "searchCaseInsensitive": "true",
    }
    assert request.headers["AI-Resource-Group"] == "team-a"
    assert found.count == 7
    [config] = found.resources
    assert [(b.key, b.value) for b in config.parameter_bindings] == [("epochs", "3")]
    assert [(b.key, b.artifact_id) for b in config.input_artifact_bindings] == [
        ("data", "art-0001")
    ]
    assert config.created_at == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


async def test_listing_without_a_search_sends_only_top(api: Api, client: AICoreClient) -> None:
    api.on("GET", "/lm/configurations", ok({"count": 0, "resources": []}))
    assert (await client.list_configurations("default")).resources == []
    await client.list_configurations("default", top=1_000_000)
    requests = api.calls("GET", "/lm/configurations")
    assert [dict(r.url.params) for r in requests] == [{"$top": "500"}, {"$top": "100000"}]


async def test_get_configuration_reads_its_bindings(api: Api, client: AICoreClient) -> None:
    api.on("GET", "/lm/configurations/cfg-train", ok(configuration(brandNewField=1)))
    config = await client.get_configuration("default", "cfg-train")
    assert config.parameter_bindings[0].value == "3"
    assert config.input_artifact_bindings[0].artifact_id == "art-0001"


async def test_a_configuration_without_bindings_has_empty_lists(
    api: Api, client: AICoreClient
) -> None:
    api.on("GET", "/lm/configurations/cfg-bare", ok({"id": "cfg-bare", "name": "bare"}))
    config = await client.get_configuration("default", "cfg-bare")
    assert config.parameter_bindings == [] and config.input_artifact_bindings == []
    assert config.created_at is None


@pytest.mark.parametrize("search", ["", "x" * 81, "epochs~3"])
async def test_a_search_the_api_would_refuse_makes_no_call(
    api: Api, client: AICoreClient, search: str
) -> None:
    with pytest.raises(InputError):
        await client.list_configurations("default", search=search)
    assert api.requests == [] and api.token_requests == []


async def test_the_longest_search_is_sent(api: Api, client: AICoreClient) -> None:
    api.on("GET", "/lm/configurations", ok({"count": 0, "resources": []}))
    await client.list_configurations("default", search="x" * 80)
    assert api.calls("GET", "/lm/configurations")[0].url.params["$search"] == "x" * 80


async def create(client: AICoreClient, **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "name": "Train a small model (lr 0.01)",
        "scenario_id": "demo",
        "executable_id": "trainer",
        "parameter_bindings": [("epochs", "3"), ("learning_rate", "0.01")],
        "input_artifact_bindings": [("data", "art-0001")],
        **overrides,
    }
    return await client.create_configuration("team-a", **arguments)


async def test_create_posts_the_spec_body_and_returns_the_new_id(
    api: Api, client: AICoreClient
) -> None:
    api.on(
        "POST",
        "/lm/configurations",
        ok({"id": "2f0d3c55-6ad1-4d0e-9f8f-1c4b7d5e9a01", "message": "Configuration created"}, 201),
    )
    assert await create(client) == "2f0d3c55-6ad1-4d0e-9f8f-1c4b7d5e9a01"
    [request] = api.calls("POST", "/lm/configurations")
    assert request.headers["AI-Resource-Group"] == "team-a"
    assert json.loads(request.content) == {
        "name": "Train a small model (lr 0.01)",
        "scenarioId": "demo",
        "executableId": "trainer",
        "parameterBindings": [
            {"key": "epochs", "value": "3"},
            {"key": "learning_rate", "value": "0.01"},
        ],
        "inputArtifactBindings": [{"key": "data", "artifactId": "art-0001"}],
    }


async def test_create_refused_with_400_keeps_the_request_id(api: Api, client: AICoreClient) -> None:
    api.on(
        "POST",
        "/lm/configurations",
        lambda _r: error(400, "01020003", "Executable trainer not found", request_id="r-400"),
    )
    with pytest.raises(BadRequestError) as caught:
        await create(client)
    assert caught.value.request_id == "r-400" and caught.value.code == "01020003"
    assert "Executable trainer not found" in caught.value.user_text()
    assert "r-400" in caught.value.user_text()
    assert len(api.calls("POST", "/lm/configurations")) == 1


async def test_create_is_not_retried_after_a_5xx(api: Api, client: AICoreClient) -> None:
    api.on("POST", "/lm/configurations", lambda _r: error(503, "503", "busy", request_id="r-5"))
    with pytest.raises(ProviderUnavailable) as caught:
        await create(client)
    assert caught.value.request_id == "r-5"
    assert len(api.calls("POST", "/lm/configurations")) == 1


async def test_create_is_not_retried_after_a_timeout(api: Api, client: AICoreClient) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    api.on("POST", "/lm/configurations", timeout)
    with pytest.raises(ProviderUnavailable):
        await create(client)
    assert len(api.calls("POST", "/lm/configurations")) == 1


async def test_create_on_429_waits_and_tries_again(
    api: Api, client: AICoreClient, waits: Waits
) -> None:
    # A 429 is refused before AI Core does anything, so another try cannot create a second one.
    api.on(
        "POST",
        "/lm/configurations",
        lambda _r: error(429, "429", "busy", headers={"Retry-After": "2"}),
        ok({"id": "cfg-new1", "message": "Configuration created"}, 201),
    )
    assert await create(client) == "cfg-new1"
    assert waits.seconds == [2.0]


async def test_a_201_without_an_id_is_ambiguous(api: Api, client: AICoreClient) -> None:
    api.on("POST", "/lm/configurations", ok({"message": "Configuration created"}, 201))
    with pytest.raises(ProviderUnavailable, match="may have been created"):
        await create(client)


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"name": ""}, "needs a name"),
        ({"name": "x" * 257}, "at most 256"),
        ({"name": "naïve run"}, "`ï`"),
        ({"name": "tab\tand`tick"}, "not '`'"),
        ({"scenario_id": "dem"}, "scenario ID"),
        ({"executable_id": "has space"}, "executable ID"),
        ({"parameter_bindings": [("k", "v")] * 1001}, "at most 1000 parameter"),
        ({"parameter_bindings": [("k" * 257, "v")]}, "at most 256"),
        ({"parameter_bindings": [("prompt", "v" * 5001)]}, "at most 5000"),
        ({"input_artifact_bindings": [("data", "art-0001")] * 1001}, "at most 1000 input"),
        ({"input_artifact_bindings": [("data", "ai://x/y")]}, "not a valid artifact ID"),
    ],
)
async def test_what_the_spec_refuses_in_a_creation_makes_no_call(
    api: Api, client: AICoreClient, overrides: dict[str, Any], says: str
) -> None:
    with pytest.raises(InputError, match=re.escape(says)):
        await create(client, **overrides)
    assert api.requests == [] and api.token_requests == []


async def test_the_limits_themselves_are_allowed(api: Api, client: AICoreClient) -> None:
    api.on("POST", "/lm/configurations", ok({"id": "cfg-new1", "message": "created"}, 201))
    punctuation = " .!?,;:[](){}<>\"'=+*/\\^&%@~$#|-_\t"
    await create(client, name=punctuation + "x" * (256 - len(punctuation)))
    await create(
        client,
        parameter_bindings=[(f"k{i}", "v") for i in range(999)] + [("k" * 256, "v" * 5000)],
        input_artifact_bindings=[("data", "a" * 64)] * 1000,
    )
    assert len(api.calls("POST", "/lm/configurations")) == 2


# -- the prompt registry and an optimization's results -----------------------------------------


async def test_prompt_templates_are_asked_for_by_scenario_name_version_and_scope(
    api: Api, client: AICoreClient
) -> None:
    found = {
        "count": 1,
        "resources": [
            {
                "id": "5e6f7a8b-0000-4000-8000-000000000001",
                "name": "answer-gpt",
                "version": "2.0",
                "scenario": "support-bot",
                "creationTimestamp": "2026-12-02T10:00:00Z",
                "managedBy": "imperative",
                "isVersionHead": True,
            }
        ],
    }
    api.on("GET", "/lm/promptTemplates", ok(found))
    for scoped in (False, True):
        templates = await client.find_prompt_templates(
            "rg-prod",
            scenario="support-bot",
            name="answer-gpt",
            version="2.0",
            resource_group_scoped=scoped,
        )
        assert [t.id for t in templates] == ["5e6f7a8b-0000-4000-8000-000000000001"]
    tenant, scoped_call = api.calls("GET", "/lm/promptTemplates")
    assert dict(tenant.url.params) == {
        "scenario": "support-bot",
        "name": "answer-gpt",
        "version": "2.0",
    }
    assert tenant.headers["AI-Resource-Group"] == "rg-prod"
    assert tenant.headers["AI-Resource-Group-Scope"] == "false"
    assert scoped_call.headers["AI-Resource-Group-Scope"] == "true"


async def test_a_prompt_registry_error_keeps_its_request_id(api: Api, client: AICoreClient) -> None:
    api.on(
        "GET",
        "/lm/promptTemplates",
        ok({"request_id": "pr-req-5", "message": "Forbidden scenario"}, 403),
    )
    with pytest.raises(AuthError) as raised:
        await client.find_prompt_templates(
            "default", scenario="s", name="n", version="1", resource_group_scoped=False
        )
    assert raised.value.request_id == "pr-req-5"
    assert "Forbidden scenario" in raised.value.user_text()


async def test_an_optimizations_summary_reads_its_configuration_and_the_registry(
    api: Api, client: AICoreClient
) -> None:
    api.on(
        "GET",
        "/lm/configurations/cfg-opt1",
        ok(
            {
                "id": "cfg-opt1",
                "scenarioId": "genai-optimizations",
                "executableId": "genai-optimizations",
                "parameterBindings": [
                    {"key": "basePrompt", "value": "support-bot/answer:1.0"},
                    {"key": "targetModels", "value": "gpt-4o:2024-08-06,mistral-x:1"},
                    {
                        "key": "targetPromptMapping",
                        "value": "gpt-4o:2024-08-06=answer-gpt:2.0,mistral-x:1=answer-m:2.0",
                    },
                    {"key": "promptTemplateScope", "value": "resourcegroup"},
                ],
            }
        ),
    )

    def registry(request: httpx.Request) -> httpx.Response:
        if request.url.params["name"] != "answer-gpt":
            return httpx.Response(200, json={"count": 0, "resources": []})
        return httpx.Response(
            200,
            json={
                "count": 1,
                "resources": [
                    {
                        "id": "tmpl-uuid-1",
                        "name": "answer-gpt",
                        "version": "2.0",
                        "scenario": "support-bot",
                        "creationTimestamp": "2026-11-24T11:00:00Z",
                    }
                ],
            },
        )

    api.on("GET", "/lm/promptTemplates", registry)
    api.on(
        "GET",
        "/lm/metrics",
        ok(
            {
                "count": 1,
                "resources": [
                    {
                        "executionId": "e0001abc",
                        "metrics": [
                            {
                                "name": "JSON_Match",
                                "value": 0.9,
                                "step": 3,
                                "timestamp": "2026-11-24T11:00:00Z",
                            }
                        ],
                    }
                ],
            }
        ),
    )
    provider = AICoreProvider(client)
    run = provider.to_run(
        "rg-prod",
        Execution.model_validate(
            execution(
                status="COMPLETED",
                configurationId="cfg-opt1",
                scenarioId="genai-optimizations",
            )
        ),
    )
    assert provider.has_results(run)
    text = await provider.results_summary(run)
    assert ":white_check_mark: `answer-gpt` version `2.0` (ID `tmpl-uuid-1`)" in text
    assert "`mistral-x:1`: did not beat the base prompt" in text
    assert "• JSON_Match: *0.9* (step 3)" in text
    asked = api.calls("GET", "/lm/promptTemplates")
    assert len(asked) == 2
    assert {r.headers["AI-Resource-Group-Scope"] for r in asked} == {"true"}
    assert {r.url.params["scenario"] for r in asked} == {"support-bot"}


async def test_metric_series_are_in_step_order_and_unstepped_ones_in_time_order(
    api: Api, client: AICoreClient
) -> None:
    points = [
        {"name": "loss", "value": 0.5, "step": 2, "timestamp": "2026-11-24T10:02:00Z"},
        {"name": "loss", "value": 1.0, "step": 1, "timestamp": "2026-11-24T10:01:00Z"},
        {"name": "loss", "value": None, "step": 3, "timestamp": "2026-11-24T10:03:00Z"},
        {"name": "gpu", "value": 70, "timestamp": "2026-11-24T10:05:00Z"},
        {"name": "gpu", "value": 60, "timestamp": "2026-11-24T10:04:00Z"},
    ]
    api.on(
        "GET",
        "/lm/metrics",
        ok({"count": 1, "resources": [{"executionId": "e0001abc", "metrics": points}]}),
    )
    provider = AICoreProvider(client)
    run = provider.to_run("default", Execution.model_validate(execution(status="COMPLETED")))
    assert await provider.metric_series(run) == {
        "loss": [(1.0, 1.0), (2.0, 0.5)],
        "gpu": [(0.0, 60.0), (1.0, 70.0)],
    }
    assert api.calls("GET", "/lm/metrics")[0].url.params["executionIds"] == "e0001abc"
