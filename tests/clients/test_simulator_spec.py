"""The simulator's answers (and the requests these tests send) against SAP's AI Core spec.

The spec is read from the shared folder (or ``AICORE_SPEC_PATH``), never copied here; without
it these tests skip with a reason. See ``tests/support/aicore_spec.py`` for how openapi-core is
adapted to the document ($count's text/plain integer, merge-patch JSON, the OAuth2 scheme).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.providers.aicore.simulator import EXECUTION_STATUSES, AICoreSimulator, ManualClock
from tests.support.aicore_spec import (
    assert_conforms,
    load_spec,
    spec_path,
    validate_exchange,
    validate_schema,
)

pytestmark = pytest.mark.spec

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture(autouse=True)
def _spec() -> None:
    """Skip (with the reason) before any work when the spec is not there."""
    load_spec()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(clock: ManualClock) -> AICoreSimulator:
    simulator = AICoreSimulator(clock=clock, token_ttl=7 * 86400)
    simulator.add_configuration("conf-ok", name="nightly training (v2)")
    simulator.add_configuration("conf-dead", outcome="DEAD")
    return simulator


@pytest.fixture
async def api(sim: AICoreSimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        form = {
            "grant_type": "client_credentials",
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
        }
        token = (await client.post("/oauth/token", data=form)).json()["access_token"]
        client.headers.update({"Authorization": f"Bearer {token}", "AI-Resource-Group": "default"})
        yield client


async def conforming(response: httpx.Response, status: int) -> httpx.Response:
    assert response.status_code == status, response.text
    assert_conforms(response)
    return response


async def test_lifecycle_traffic_conforms(api: httpx.AsyncClient, clock: ManualClock) -> None:
    created = await conforming(
        await api.post("/v2/lm/executions", json={"configurationId": "conf-ok"}), 202
    )
    execution_id = created.json()["id"]
    path = f"/v2/lm/executions/{execution_id}"
    for _ in range(3):  # PENDING, RUNNING, COMPLETED (with an output artifact)
        await conforming(await api.get(path), 200)
        await conforming(await api.get(path, params={"$select": "status"}), 200)
        await conforming(await api.get("/v2/lm/executions"), 200)
        clock.advance(40)
    assert (await api.get(path)).json()["status"] == "COMPLETED"

    listing: dict[str, str | int] = {
        "status": "COMPLETED",
        "$top": 5,
        "$skip": 0,
        "executableIds": "train,other",
    }
    await conforming(await api.get("/v2/lm/executions", params=listing), 200)
    await conforming(await api.get("/v2/lm/executions", params={"$select": "status"}), 200)
    await conforming(await api.get("/v2/lm/executions/$count", params={"status": "RUNNING"}), 200)
    window: dict[str, str | int] = {
        "start": "2025-01-06T08:59:00Z",
        "end": "2025-01-06T10:00:00.5+00:00",  # httpx sends the + as %2B, as the spec asks
        "$order": "desc",
        "$top": 3,
    }
    logs = await conforming(await api.get(f"{path}/logs", params=window), 200)
    assert len(logs.json()["data"]["result"]) == 3
    await conforming(await api.delete(path), 202)
    await conforming(await api.get(path), 404)


async def test_stop_and_refusals_conform(api: httpx.AsyncClient, clock: ManualClock) -> None:
    created = await api.post("/v2/lm/executions", json={"configurationId": "conf-dead"})
    path = f"/v2/lm/executions/{created.json()['id']}"
    await conforming(await api.patch(path, json={"targetStatus": "STOPPED"}), 202)
    await conforming(await api.patch(path, json={"targetStatus": "STOPPED"}), 412)
    await conforming(await api.delete(path), 412)
    clock.advance(5)
    await conforming(await api.get(path), 200)
    await conforming(await api.delete(path), 202)


@pytest.mark.parametrize("status", EXECUTION_STATUSES)
async def test_every_status_renders_a_conforming_execution(
    api: httpx.AsyncClient, sim: AICoreSimulator, status: str
) -> None:
    # A 256-character message: the longest the spec allows.
    execution_id = sim.add_execution(
        configuration_id="conf-ok",
        status=status,
        status_message="x" * 256,
        execution_schedule_id="sched-01",
    )
    await conforming(await api.get(f"/v2/lm/executions/{execution_id}"), 200)
    await conforming(await api.get("/v2/lm/executions", params={"status": status}), 200)
    await conforming(await api.get(f"/v2/lm/executions/{execution_id}/logs"), 200)


async def test_bulk_traffic_conforms(api: httpx.AsyncClient, sim: AICoreSimulator) -> None:
    running = sim.add_execution(configuration_id="conf-ok", status="RUNNING")
    dead = sim.add_execution(configuration_id="conf-ok", status="DEAD")
    body = {
        "executions": [
            {"id": running, "targetStatus": "STOPPED"},
            {"id": running + "0", "targetStatus": "STOPPED"},
            {"id": dead, "targetStatus": "DELETED"},
            {"id": running + "1", "targetStatus": "DELETED"},
        ]
    }
    response = await conforming(
        await api.patch("/v2/lm/executions", json=body, headers=MERGE_PATCH), 202
    )
    assert [("error" in item) for item in response.json()["executions"]] == [
        False,
        True,
        False,
        True,
    ]
    malformed = await api.patch("/v2/lm/executions", json={"executions": []}, headers=MERGE_PATCH)
    assert malformed.status_code == 400
    assert_conforms(malformed, check_request=False)  # the request is invalid on purpose


@pytest.mark.parametrize("bulk_updates", [True, False])
async def test_meta_conforms(clock: ManualClock, bulk_updates: bool) -> None:
    sim = AICoreSimulator(clock=clock, bulk_updates=bulk_updates)
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        form = {"grant_type": "client_credentials"}
        token = (
            await client.post("/oauth/token", data=form, auth=("sim-client", "sim-secret"))
        ).json()["access_token"]
        meta = await client.get("/v2/lm/meta", headers={"Authorization": f"Bearer {token}"})
    await conforming(meta, 200)
    assert meta.json()["aiApi"]["capabilities"]["bulkUpdates"]["executions"] is bulk_updates


async def test_configurations_and_metrics_conform(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    await conforming(await api.get("/v2/lm/configurations"), 200)
    listing: dict[str, str | int] = {
        "scenarioId": "training",
        "$top": 1,
        "$skip": 1,
        "executableIds": "train",
    }
    await conforming(await api.get("/v2/lm/configurations", params=listing), 200)
    await conforming(await api.get("/v2/lm/configurations/conf-ok"), 200)
    await conforming(await api.get("/v2/lm/configurations/conf-none"), 404)

    execution_id = sim.add_execution(configuration_id="conf-ok", status="COMPLETED")
    sim.set_metrics(
        execution_id,
        [
            {
                "name": "accuracy",
                "value": 0.91,
                "step": 2,
                "labels": [{"name": "set", "value": "test"}],
            }
        ],
        tags=[{"name": "winner", "value": "true"}],
        custom_info=[{"name": "report", "value": "[]"}],
    )
    ids = {"executionIds": f"{execution_id},feedfacecafebeef"}
    await conforming(await api.get("/v2/lm/metrics", params=ids), 200)
    await conforming(await api.get("/v2/lm/metrics", params={**ids, "$select": "metrics"}), 200)
    await conforming(await api.get("/v2/lm/metrics", params={"tagFilters": "winner=true"}), 200)


async def test_configuration_bindings_search_and_creation_conform(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    sim.add_configuration(
        "conf-bound",
        name="nightly training, bound",
        parameters={"epochs": "3", "learning_rate": "0.001"},
        input_artifacts={"data": "art-0001"},
    )
    bound = await conforming(await api.get("/v2/lm/configurations/conf-bound"), 200)
    assert bound.json()["parameterBindings"][0] == {"key": "epochs", "value": "3"}
    search: dict[str, str | int] = {
        "$search": "NIGHTLY",
        "searchCaseInsensitive": "true",
        "$top": 10,
    }
    found = await conforming(await api.get("/v2/lm/configurations", params=search), 200)
    assert found.json()["count"] == 2

    body = {
        "name": "nightly training (lr 0.01)",
        "scenarioId": "training",
        "executableId": "train",
        "parameterBindings": [
            {"key": "epochs", "value": "3"},
            {"key": "learning_rate", "value": "0.01"},
        ],
        "inputArtifactBindings": [{"key": "data", "artifactId": "art-0001"}],
    }
    created = await conforming(await api.post("/v2/lm/configurations", json=body), 201)
    config_id = created.json()["id"]
    await conforming(await api.get(f"/v2/lm/configurations/{config_id}"), 200)
    minimal = {"name": "bare", "scenarioId": "training", "executableId": "train"}
    await conforming(await api.post("/v2/lm/configurations", json=minimal), 201)
    await conforming(await api.get("/v2/lm/configurations"), 200)


@pytest.mark.parametrize(
    "body",
    [
        {"scenarioId": "training", "executableId": "train"},
        {"name": "x", "scenarioId": "abc", "executableId": "train"},
        {
            "name": "x",
            "scenarioId": "training",
            "executableId": "train",
            "parameterBindings": [{"key": "k", "value": "v" * 5001}],
        },
    ],
)
async def test_configuration_refusals_conform(
    api: httpx.AsyncClient, body: dict[str, object]
) -> None:
    refused = await api.post("/v2/lm/configurations", json=body)
    assert refused.status_code == 400
    with pytest.raises(AssertionError):  # the spec refuses these requests too
        validate_exchange(refused.request, refused, check_response=False)
    assert_conforms(refused, check_request=False)
    search = await api.get("/v2/lm/configurations", params={"$search": "a~b"})
    assert search.status_code == 400
    assert_conforms(search, check_request=False)


@pytest.mark.parametrize(
    ("method", "path", "params", "drop_group"),
    [
        ("GET", "/v2/lm/executions/ab", {}, False),
        ("GET", "/v2/lm/executions", {"status": "DELETING"}, False),
        ("GET", "/v2/lm/executions", {"$top": "100001"}, False),
        ("GET", "/v2/lm/executions/$count", {"status": "nope"}, False),
        ("GET", "/v2/lm/executions", {}, True),
        ("GET", "/v2/lm/executions/feedfacecafebeef", {}, False),
        ("DELETE", "/v2/lm/executions/feedfacecafebeef", {}, False),
        ("GET", "/v2/lm/executions/feedfacecafebeef/logs", {}, False),
        ("GET", "/v2/lm/configurations/x", {}, False),
    ],
)
async def test_error_responses_conform(
    api: httpx.AsyncClient,
    method: str,
    path: str,
    params: dict[str, str],
    drop_group: bool,
) -> None:
    if drop_group:
        del api.headers["AI-Resource-Group"]
    response = await api.request(method, path, params=params)
    assert response.status_code in {400, 404}, response.text
    # Several of these requests break the spec on purpose; the error answer must not.
    assert_conforms(response, check_request=False)


async def test_create_errors_conform(api: httpx.AsyncClient) -> None:
    unknown = await api.post("/v2/lm/executions", json={"configurationId": "conf-none"})
    await conforming(unknown, 400)  # the spec declares only 400 for this call
    missing = await api.post("/v2/lm/executions", json={})
    assert missing.status_code == 400
    assert_conforms(missing, check_request=False)


async def test_statuses_the_spec_does_not_declare_still_carry_an_ai_api_error(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    # 401, 405, 415 and 429 are not declared on these operations (only logs declares 401),
    # so only the body is checked: it must be the spec's AI API error object.
    sim.inject_fault(status=429, retry_after=1)
    responses = [
        await api.get("/v2/lm/executions"),
        await api.get("/v2/lm/executions", headers={"Authorization": "Bearer expired"}),
        await api.put("/v2/lm/executions", json={}),
        await api.patch("/v2/lm/executions", json={"executions": []}),
    ]
    assert [r.status_code for r in responses] == [429, 401, 405, 415]
    for response in responses:
        validate_schema(response.json()["error"], "AiApiError")


async def test_the_validator_rejects_what_the_spec_forbids() -> None:
    """Guards against a vacuous check: known-bad traffic must fail validation."""
    headers = {"Authorization": "Bearer t", "AI-Resource-Group": "default"}
    get_one = httpx.Request("GET", "http://sim/v2/lm/executions/abcd1234", headers=headers)
    execution = {
        "id": "abcd1234",
        "configurationId": "conf-ok",
        "status": "RUNNING",
        "createdAt": "2025-01-06T09:00:00Z",
        "modifiedAt": "2025-01-06T09:00:00Z",
    }
    ok = httpx.Response(200, json={**execution, "statusDetails": {}}, request=get_one)
    validate_exchange(get_one, ok)
    for broken in (
        {**execution, "statusDetails": None},  # the spec's statusDetails is not nullable
        {**execution, "status": "DELETING"},
        {**execution, "startTime": None},
        {key: value for key, value in execution.items() if key != "modifiedAt"},
    ):
        with pytest.raises(AssertionError):
            validate_exchange(get_one, httpx.Response(200, json=broken, request=get_one))

    bulk = {"executions": [{"id": "abcd1234", "targetStatus": "STOPPED"}]}
    as_json = httpx.Request("PATCH", "http://sim/v2/lm/executions", json=bulk, headers=headers)
    accepted = httpx.Response(202, json={"executions": []}, request=as_json)
    with pytest.raises(AssertionError, match="merge-patch"):
        validate_exchange(as_json, accepted)
    no_token = httpx.Request(
        "GET", "http://sim/v2/lm/executions", headers={"AI-Resource-Group": "x"}
    )
    with pytest.raises(AssertionError, match="Security"):
        validate_exchange(no_token, httpx.Response(200, json={"count": 0, "resources": []}))


def test_missing_spec_skips_with_a_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    absent = tmp_path / "nowhere" / "aicore.yaml"
    monkeypatch.setenv("AICORE_SPEC_PATH", str(absent))
    assert spec_path() == absent
    with pytest.raises(pytest.skip.Exception, match=r"AI Core spec not found at .*nowhere"):
        load_spec()
