"""Behaviour of the AI Core simulator, driven over HTTP as the bot's client would."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.providers.aicore.simulator import AICoreSimulator, ManualClock, SystemClock
from bot.sandbox.demo import OUT_OF_MEMORY_LOG, aicore_simulator
from tests.support.waits import until

RG = {"AI-Resource-Group": "default"}
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
TOKEN_TTL = 7 * 86400


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(clock: ManualClock) -> AICoreSimulator:
    # Tokens outlive every clock jump in these tests; expiry has its own test.
    simulator = AICoreSimulator(
        clock=clock, token_ttl=TOKEN_TTL, resource_groups=("default", "team-b")
    )
    simulator.add_configuration("conf-ok", name="nightly training")
    simulator.add_configuration("conf-dead", outcome="DEAD", executable_id="train-big")
    simulator.add_configuration("conf-stuck", outcome="PENDING_FOREVER")
    simulator.add_configuration("conf-lost", outcome="UNKNOWN_FOREVER")
    simulator.add_configuration("conf-b", resource_group="team-b")
    return simulator


@pytest.fixture
async def raw(sim: AICoreSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """No credentials attached."""
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        yield client


async def grant(client: httpx.AsyncClient) -> str:
    form = {"grant_type": "client_credentials", "client_id": "sim-client"}
    response = await client.post("/oauth/token", data={**form, "client_secret": "sim-secret"})
    assert response.status_code == 200
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
async def api(sim: AICoreSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """Bearer token and the default resource group on every call."""
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        client.headers["Authorization"] = f"Bearer {await grant(client)}"
        client.headers.update(RG)
        yield client


async def start(api: httpx.AsyncClient, config_id: str = "conf-ok") -> str:
    response = await api.post("/v2/lm/executions", json={"configurationId": config_id})
    assert response.status_code == 202, response.text
    execution_id: str = response.json()["id"]
    return execution_id


async def get(api: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    response = await api.get(f"/v2/lm/executions/{execution_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_of(response: httpx.Response) -> dict[str, str]:
    """The AI API error object, after checking the envelope and the request id."""
    error: dict[str, str] = response.json()["error"]
    assert set(error) >= {"code", "message", "requestId", "target"}
    assert isinstance(error["code"], str)
    assert error["requestId"] == response.headers["x-request-id"]
    return error


# --- clocks ---------------------------------------------------------------------------------------


def test_manual_clock_is_utc_and_moves_only_forward() -> None:
    clock = ManualClock(datetime(2030, 5, 1, 12, 0))  # naive means UTC
    assert clock.now() == datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    clock.advance(1.5)
    assert clock.now() == datetime(2030, 5, 1, 12, 0, 1, 500000, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)


# --- tokens and authentication --------------------------------------------------------------------


async def test_token_grant_with_form_or_basic_credentials(
    raw: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    response = await raw.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "sim-client",
            "client_secret": "sim-secret",
        },
    )
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == TOKEN_TTL
    assert body["access_token"] and body["jti"]

    basic = base64.b64encode(b"sim-client:sim-secret").decode()
    response = await raw.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200
    assert response.json()["access_token"] != body["access_token"]
    assert sim.token_requests == 2
    assert sim.requests == []  # the token endpoint is not recorded


async def test_token_wrong_credentials_and_grant(
    raw: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    wrong = await raw.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "sim-client", "client_secret": "x"},
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "unauthorized"
    grant_type = await raw.post("/oauth/token", data={"grant_type": "password"})
    assert grant_type.status_code == 400
    assert sim.token_requests == 0


async def test_api_calls_need_a_valid_bearer_token(
    raw: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    missing = await raw.get("/v2/lm/executions", headers=RG)
    assert missing.status_code == 401
    assert error_of(missing)["target"] == "/v2/lm/executions"

    bogus = await raw.get("/v2/lm/executions", headers={**RG, "Authorization": "Bearer nope"})
    assert bogus.status_code == 401

    token = await grant(raw)
    auth = {**RG, "Authorization": f"Bearer {token}"}
    assert (await raw.get("/v2/lm/executions", headers=auth)).status_code == 200
    clock.advance(TOKEN_TTL - 1)
    assert (await raw.get("/v2/lm/executions", headers=auth)).status_code == 200
    clock.advance(1)  # token_ttl runs on the simulator's clock
    assert (await raw.get("/v2/lm/executions", headers=auth)).status_code == 401


async def test_expire_tokens_forces_a_new_grant(
    raw: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    auth = {**RG, "Authorization": f"Bearer {await grant(raw)}"}
    sim.expire_tokens()
    assert (await raw.get("/v2/lm/meta", headers=auth)).status_code == 401
    auth["Authorization"] = f"Bearer {await grant(raw)}"
    assert (await raw.get("/v2/lm/meta", headers=auth)).status_code == 200


async def test_every_response_has_its_own_request_id(api: httpx.AsyncClient) -> None:
    first = await api.get("/v2/lm/executions/unknown1")
    second = await api.get("/v2/lm/executions/unknown1")
    assert first.status_code == second.status_code == 404
    assert error_of(first)["requestId"] != error_of(second)["requestId"]
    ok = await api.get("/v2/lm/meta")
    assert re.fullmatch(r"[0-9a-f-]{36}", ok.headers["x-request-id"])


# --- resource groups and ids ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v2/lm/executions",
        "/v2/lm/executions/abcd1234/logs",
        "/v2/lm/configurations",
        "/v2/lm/metrics",
    ],
)
async def test_resource_group_header_is_required(api: httpx.AsyncClient, path: str) -> None:
    del api.headers["AI-Resource-Group"]
    response = await api.get(path)
    assert response.status_code == 400
    assert "AI-Resource-Group" in error_of(response)["message"]


async def test_unknown_resource_group_is_rejected_meta_needs_none(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/lm/executions", headers={"AI-Resource-Group": "nope"})
    assert response.status_code == 400
    assert "nope" in error_of(response)["message"]
    del api.headers["AI-Resource-Group"]
    assert (await api.get("/v2/lm/meta")).status_code == 200


async def test_resource_groups_are_isolated(api: httpx.AsyncClient, sim: AICoreSimulator) -> None:
    other = sim.add_execution(configuration_id="conf-b", resource_group="team-b")
    assert (await api.get(f"/v2/lm/executions/{other}")).status_code == 404
    response = await api.get(f"/v2/lm/executions/{other}", headers={"AI-Resource-Group": "team-b"})
    assert response.json()["status"] == "PENDING"
    assert sim.execution_status(other) is None
    assert sim.execution_status(other, "team-b") == "PENDING"


@pytest.mark.parametrize("bad_id", ["abc", "x" * 65, "has space", "ünïcode1", "semi;colon"])
async def test_malformed_ids_are_400(api: httpx.AsyncClient, bad_id: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = await api.request(
            method, f"/v2/lm/executions/{bad_id}", json={"targetStatus": "STOPPED"}
        )
        assert response.status_code == 400, (method, response.text)
    assert (await api.get(f"/v2/lm/executions/{bad_id}/logs")).status_code == 400
    assert (await api.get(f"/v2/lm/configurations/{bad_id}")).status_code == 400


async def test_unknown_execution_is_404(api: httpx.AsyncClient) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = await api.request(
            method, "/v2/lm/executions/0123456789abcdef", json={"targetStatus": "STOPPED"}
        )
        assert response.status_code == 404
        assert "0123456789abcdef" in error_of(response)["message"]
    assert (await api.get("/v2/lm/executions/0123456789abcdef/logs")).status_code == 404


async def test_unknown_endpoint_and_method(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v2/lm/nothing")).status_code == 404
    response = await api.put("/v2/lm/executions", json={})
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]


# --- lifecycle ------------------------------------------------------------------------------------


async def test_create_answers_202_and_follows_the_clock(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    response = await api.post("/v2/lm/executions", json={"configurationId": "conf-ok"})
    assert response.status_code == 202
    body = response.json()
    execution_id = body["id"]
    assert re.fullmatch(r"[0-9a-f]{16}", execution_id)
    assert body["message"] == "AiExecution acknowledged"
    assert body["status"] == "PENDING"
    assert body["url"] == f"ai://default/{execution_id}"
    assert response.headers["location"].endswith(f"/v2/lm/executions/{execution_id}")

    pending = await get(api, execution_id)
    assert pending["status"] == "PENDING" and pending["targetStatus"] == "COMPLETED"
    assert pending["configurationName"] == "nightly training"
    assert pending["scenarioId"] == "training" and pending["executableId"] == "train"
    assert pending["createdAt"] == pending["modifiedAt"] == "2025-01-06T09:00:00Z"
    assert "startTime" not in pending and "completionTime" not in pending
    assert "executionScheduleId" not in pending
    assert pending["outputArtifacts"] == [] and pending["statusDetails"] == {}

    clock.advance(5)
    running = await get(api, execution_id)
    assert running["status"] == "RUNNING"
    assert running["startTime"] == running["modifiedAt"] == "2025-01-06T09:00:05Z"
    assert "completionTime" not in running

    clock.advance(59.9)
    assert sim.execution_status(execution_id) == "RUNNING"
    clock.advance(0.1)
    done = await get(api, execution_id)
    assert done["status"] == "COMPLETED"
    assert done["completionTime"] == done["modifiedAt"] == "2025-01-06T09:01:05Z"
    [artifact] = done["outputArtifacts"]
    assert artifact["kind"] == "model" and artifact["name"] == "model"
    assert artifact["url"] == f"ai://default/{execution_id}/model"
    assert artifact["executionId"] == execution_id and artifact["scenarioId"] == "training"


async def test_dead_outcome_has_a_status_message(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    execution_id = await start(api, "conf-dead")
    clock.advance(65)
    dead = await get(api, execution_id)
    assert dead["status"] == "DEAD"
    assert dead["statusMessage"] == "Pod OOMKilled"
    assert dead["outputArtifacts"] == []
    assert "completionTime" in dead


async def test_stuck_outcomes_never_move(api: httpx.AsyncClient, clock: ManualClock) -> None:
    stuck = await start(api, "conf-stuck")
    lost = await start(api, "conf-lost")
    clock.advance(86400)
    assert (await get(api, stuck))["status"] == "PENDING"
    unknown = await get(api, lost)
    assert unknown["status"] == "UNKNOWN"
    assert "submissionTime" not in unknown


async def test_create_errors(api: httpx.AsyncClient) -> None:
    missing = await api.post("/v2/lm/executions", json={})
    assert missing.status_code == 400
    unknown = await api.post("/v2/lm/executions", json={"configurationId": "conf-none"})
    assert unknown.status_code == 400
    assert "conf-none" in error_of(unknown)["message"]
    not_json = await api.post(
        "/v2/lm/executions", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400


async def test_pinned_status_ignores_the_clock(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    execution_id = sim.add_execution("ext-run-1", configuration_id="conf-ok", status="RUNNING")
    clock.advance(3600)
    running = await get(api, execution_id)
    assert running["status"] == "RUNNING" and running["startTime"] == "2025-01-06T09:00:00Z"

    follows = sim.add_execution(configuration_id="conf-ok")
    sim.set_status(follows, "DEAD", status_message="Image pull failed")
    clock.advance(3600)
    dead = await get(api, follows)
    assert dead["status"] == "DEAD" and dead["statusMessage"] == "Image pull failed"
    assert dead["modifiedAt"] == dead["completionTime"] == "2025-01-06T10:00:00Z"

    with pytest.raises(ValueError):
        sim.add_execution("ext-run-1", configuration_id="conf-ok")
    with pytest.raises(ValueError):
        sim.set_status(follows, "DELETING")


async def test_execution_schedule_id_is_reported_and_filterable(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    scheduled = sim.add_execution(configuration_id="conf-ok", execution_schedule_id="sched-1")
    await start(api)
    assert (await get(api, scheduled))["executionScheduleId"] == "sched-1"
    listed = (await api.get("/v2/lm/executions", params={"executionScheduleId": "sched-1"})).json()
    assert [e["id"] for e in listed["resources"]] == [scheduled]


# --- stop and delete ------------------------------------------------------------------------------


async def test_stop_then_stopping_then_stopped(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    execution_id = await start(api)
    clock.advance(10)
    response = await api.patch(
        f"/v2/lm/executions/{execution_id}", json={"targetStatus": "STOPPED"}
    )
    assert response.status_code == 202
    assert response.json() == {"id": execution_id, "message": "Execution modification scheduled"}

    stopping = await get(api, execution_id)
    assert stopping["status"] == "STOPPING" and stopping["targetStatus"] == "STOPPED"
    again = await api.patch(f"/v2/lm/executions/{execution_id}", json={"targetStatus": "STOPPED"})
    assert again.status_code == 412
    assert "STOPPING" in error_of(again)["message"]
    assert (await api.delete(f"/v2/lm/executions/{execution_id}")).status_code == 412

    clock.advance(2)
    stopped = await get(api, execution_id)
    assert stopped["status"] == "STOPPED"
    assert stopped["completionTime"] == "2025-01-06T09:00:12Z"
    clock.advance(600)  # the configuration's outcome no longer applies
    assert sim.execution_status(execution_id) == "STOPPED"


async def test_stop_is_allowed_for_pending_and_pinned_running(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    pending = await start(api, "conf-stuck")
    pinned = sim.add_execution(configuration_id="conf-ok", status="RUNNING")
    for execution_id in (pending, pinned):
        response = await api.patch(
            f"/v2/lm/executions/{execution_id}", json={"targetStatus": "STOPPED"}
        )
        assert response.status_code == 202
    clock.advance(2)
    assert sim.execution_status(pending) == sim.execution_status(pinned) == "STOPPED"


@pytest.mark.parametrize("status", ["COMPLETED", "DEAD", "STOPPED", "UNKNOWN", "STOPPING"])
async def test_stop_refused_with_412(
    api: httpx.AsyncClient, sim: AICoreSimulator, status: str
) -> None:
    execution_id = sim.add_execution(configuration_id="conf-ok", status=status)
    response = await api.patch(
        f"/v2/lm/executions/{execution_id}", json={"targetStatus": "STOPPED"}
    )
    assert response.status_code == 412
    assert sim.execution_status(execution_id) == status


@pytest.mark.parametrize("body", [{"targetStatus": "DELETED"}, {"targetStatus": "RUNNING"}, {}])
async def test_single_patch_accepts_only_stopped(
    api: httpx.AsyncClient, sim: AICoreSimulator, body: dict[str, str]
) -> None:
    execution_id = sim.add_execution(configuration_id="conf-ok", status="RUNNING")
    response = await api.patch(f"/v2/lm/executions/{execution_id}", json=body)
    assert response.status_code == 400


@pytest.mark.parametrize("status", ["COMPLETED", "DEAD", "STOPPED", "UNKNOWN"])
async def test_delete_allowed_then_gone(
    api: httpx.AsyncClient, sim: AICoreSimulator, status: str
) -> None:
    execution_id = sim.add_execution(configuration_id="conf-ok", status=status)
    response = await api.delete(f"/v2/lm/executions/{execution_id}")
    assert response.status_code == 202
    assert response.json() == {
        "id": execution_id,
        "message": "Deletion scheduled",
        "targetStatus": "DELETED",
    }
    assert (await api.get(f"/v2/lm/executions/{execution_id}")).status_code == 404
    assert sim.execution_status(execution_id) is None


@pytest.mark.parametrize("status", ["PENDING", "RUNNING", "STOPPING"])
async def test_delete_refused_with_412(
    api: httpx.AsyncClient, sim: AICoreSimulator, status: str
) -> None:
    execution_id = sim.add_execution(configuration_id="conf-ok", status=status)
    response = await api.delete(f"/v2/lm/executions/{execution_id}")
    assert response.status_code == 412
    assert status in error_of(response)["message"]
    assert sim.execution_status(execution_id) == status


# --- bulk -----------------------------------------------------------------------------------------


async def test_bulk_is_partial_success(api: httpx.AsyncClient, sim: AICoreSimulator) -> None:
    running = sim.add_execution(configuration_id="conf-ok", status="RUNNING")
    completed = sim.add_execution(configuration_id="conf-ok", status="COMPLETED")
    dead = sim.add_execution(configuration_id="conf-ok", status="DEAD")
    items = [
        {"id": running, "targetStatus": "STOPPED"},
        {"id": completed, "targetStatus": "STOPPED"},
        {"id": "feedfacecafebeef", "targetStatus": "DELETED"},
        {"id": dead, "targetStatus": "DELETED"},
    ]
    response = await api.patch("/v2/lm/executions", json={"executions": items}, headers=MERGE_PATCH)
    assert response.status_code == 202
    ok_stop, refused, unknown, ok_delete = response.json()["executions"]
    assert ok_stop == {"id": running, "message": "Execution modification scheduled"}
    assert refused["id"] == completed and "COMPLETED" in refused["error"]["message"]
    assert unknown["id"] == "feedfacecafebeef" and unknown["error"]["code"] == "01010020"
    assert unknown["error"]["requestId"] == response.headers["x-request-id"]
    assert ok_delete["id"] == dead and "error" not in ok_delete
    assert sim.execution_status(running) == "STOPPING"
    assert sim.execution_status(completed) == "COMPLETED"
    assert sim.execution_status(dead) is None


async def test_bulk_needs_merge_patch_content_type(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    running = sim.add_execution(configuration_id="conf-ok", status="RUNNING")
    body = {"executions": [{"id": running, "targetStatus": "STOPPED"}]}
    response = await api.patch("/v2/lm/executions", json=body)  # application/json
    assert response.status_code == 415
    assert "merge-patch" in error_of(response)["message"]
    assert sim.execution_status(running) == "RUNNING"
    with_charset = {"Content-Type": "application/merge-patch+json; charset=utf-8"}
    assert (
        await api.patch("/v2/lm/executions", json=body, headers=with_charset)
    ).status_code == 202


def _items(count: int, target: str = "STOPPED") -> list[dict[str, str]]:
    return [{"id": f"exec{i:04d}", "targetStatus": target} for i in range(count)]


@pytest.mark.parametrize(
    "executions",
    [
        [],
        _items(101),
        [
            {"id": "exec0001", "targetStatus": "STOPPED"},
            {"id": "exec0001", "targetStatus": "DELETED"},
        ],
        [{"id": "exec0001", "targetStatus": "RUNNING"}],
        [{"id": "ab", "targetStatus": "STOPPED"}],
        ["exec0001"],
        None,
    ],
    ids=["empty", "101-items", "duplicate-id", "bad-target", "bad-id", "not-objects", "missing"],
)
async def test_bulk_rejects_malformed_requests(api: httpx.AsyncClient, executions: object) -> None:
    body = {} if executions is None else {"executions": executions}
    response = await api.patch("/v2/lm/executions", json=body, headers=MERGE_PATCH)
    assert response.status_code == 400


async def test_bulk_accepts_100_items(api: httpx.AsyncClient) -> None:
    response = await api.patch(
        "/v2/lm/executions", json={"executions": _items(100)}, headers=MERGE_PATCH
    )
    assert response.status_code == 202
    assert all(item["error"]["code"] == "01010020" for item in response.json()["executions"])


async def test_bulk_disabled_runtime(clock: ManualClock) -> None:
    sim = AICoreSimulator(clock=clock, bulk_updates=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url="http://sim"
    ) as client:
        client.headers["Authorization"] = f"Bearer {await grant(client)}"
        meta = (await client.get("/v2/lm/meta")).json()
        assert meta["aiApi"]["capabilities"]["bulkUpdates"]["executions"] is False
        body = {"executions": _items(1)}
        response = await client.patch("/v2/lm/executions", json=body, headers={**RG, **MERGE_PATCH})
        assert response.status_code == 400
        assert "not enabled" in error_of(response)["message"]


# --- listing --------------------------------------------------------------------------------------


async def _five_runs(api: httpx.AsyncClient, clock: ManualClock) -> list[str]:
    ids = []
    for config_id in ("conf-ok", "conf-dead", "conf-ok", "conf-stuck", "conf-ok"):
        ids.append(await start(api, config_id))
        clock.advance(1)
    return ids


async def test_list_pages_with_top_and_skip_in_creation_order(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    ids = await _five_runs(api, clock)
    everything = (await api.get("/v2/lm/executions")).json()
    assert everything["count"] == 5
    assert [e["id"] for e in everything["resources"]] == ids

    page = (await api.get("/v2/lm/executions", params={"$top": 2, "$skip": 2})).json()
    assert page["count"] == 5  # the total, not the page size
    assert [e["id"] for e in page["resources"]] == ids[2:4]
    tail = (await api.get("/v2/lm/executions", params={"$top": 2, "$skip": 4})).json()
    assert [e["id"] for e in tail["resources"]] == ids[4:]


async def test_same_instant_is_ordered_by_id(api: httpx.AsyncClient, sim: AICoreSimulator) -> None:
    created = [sim.add_execution(configuration_id="conf-ok") for _ in range(6)]
    listed = (await api.get("/v2/lm/executions")).json()["resources"]
    assert [e["id"] for e in listed] == sorted(created) == sim.execution_ids()


async def test_list_filters(api: httpx.AsyncClient, clock: ManualClock) -> None:
    ids = await _five_runs(api, clock)  # created at +0..+4 s; clock now at +5 s
    clock.advance(1)  # +6 s: runs created at +0 and +1 are RUNNING, later ones still PENDING
    running = (await api.get("/v2/lm/executions", params={"status": "RUNNING"})).json()
    assert [e["id"] for e in running["resources"]] == ids[:2]
    by_config = (await api.get("/v2/lm/executions", params={"configurationId": "conf-ok"})).json()
    assert by_config["count"] == 3
    by_executable = (
        await api.get("/v2/lm/executions", params={"executableIds": "train-big,other"})
    ).json()
    assert [e["id"] for e in by_executable["resources"]] == [ids[1]]
    by_scenario = (await api.get("/v2/lm/executions", params={"scenarioId": "nothing"})).json()
    assert by_scenario == {"count": 0, "resources": []}


async def test_list_select_status_is_reduced(api: httpx.AsyncClient) -> None:
    execution_id = await start(api)
    listed = (await api.get("/v2/lm/executions", params={"$select": "status"})).json()
    [item] = listed["resources"]
    assert set(item) == {"id", "configurationId", "status", "createdAt", "modifiedAt"}
    single = (
        await api.get(f"/v2/lm/executions/{execution_id}", params={"$select": "status"})
    ).json()
    assert set(single) == {
        "id",
        "configurationId",
        "status",
        "createdAt",
        "modifiedAt",
        "statusDetails",
    }


@pytest.mark.parametrize(
    "params",
    [
        {"status": "DELETING"},
        {"status": "running"},
        {"$top": "100001"},
        {"$top": "-1"},
        {"$top": "ten"},
        {"$skip": "-3"},
        {"$select": "id"},
        {"configurationId": "no"},
        {"executableIds": "ok-one,x"},
    ],
)
async def test_list_rejects_bad_parameters(api: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await api.get("/v2/lm/executions", params=params)
    assert response.status_code == 400, params
    error_of(response)


async def test_list_top_limit_is_inclusive(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v2/lm/executions", params={"$top": 100000})).status_code == 200


async def test_count_is_plain_text_with_filters(api: httpx.AsyncClient, clock: ManualClock) -> None:
    await _five_runs(api, clock)
    response = await api.get("/v2/lm/executions/$count")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "5"
    # Created at +0..+4 s, now +5 s: the first one has just started running.
    pending = await api.get("/v2/lm/executions/$count", params={"status": "PENDING"})
    assert pending.text == "4"
    clock.advance(100)
    assert (await api.get("/v2/lm/executions/$count", params={"status": "DEAD"})).text == "1"
    assert (await api.get("/v2/lm/executions/$count", params={"status": "nope"})).status_code == 400


# --- logs -----------------------------------------------------------------------------------------


def _messages(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [line["msg"] for line in response.json()["data"]["result"]]


async def test_logs_default_to_the_last_hour(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    execution_id = await start(api, "conf-stuck")
    sim.add_logs(execution_id, ["old line"])
    clock.advance(2 * 3600)
    sim.add_logs(execution_id, ["new line 1", "new line 2"])

    default = await api.get(f"/v2/lm/executions/{execution_id}/logs")
    assert _messages(default) == ["new line 1", "new line 2"]

    since_start = await api.get(
        f"/v2/lm/executions/{execution_id}/logs", params={"start": "2025-01-06T09:00:00Z"}
    )
    assert _messages(since_start) == [
        "Pulling image for executable 'train'",
        "old line",
        "new line 1",
        "new line 2",
    ]
    first = since_start.json()["data"]["result"][0]
    assert first["timestamp"] == "2025-01-06T09:00:00Z"
    assert first["container"] == "init" and first["pod"].startswith(execution_id)

    window = await api.get(
        f"/v2/lm/executions/{execution_id}/logs",
        params={"start": "2025-01-06T08:00:00Z", "end": "2025-01-06T10:00:00+00:00"},
    )
    assert _messages(window) == ["Pulling image for executable 'train'", "old line"]


async def test_logs_order_and_top(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    execution_id = await start(api, "conf-stuck")
    for number in range(1, 4):
        clock.advance(1)
        sim.add_logs(execution_id, [f"line {number}"])
    path = f"/v2/lm/executions/{execution_id}/logs"
    assert _messages(await api.get(path, params={"$order": "desc", "$top": 2})) == [
        "line 3",
        "line 2",
    ]
    assert _messages(await api.get(path, params={"$order": "asc", "$top": 2})) == [
        "Pulling image for executable 'train'",
        "line 1",
    ]
    timestamps = [
        line["timestamp"]
        for line in (await api.get(path, params={"$order": "desc"})).json()["data"]["result"]
    ]
    assert timestamps == sorted(timestamps, reverse=True)


async def test_logs_follow_the_lifecycle_and_end_in_a_traceback(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    execution_id = await start(api, "conf-dead")
    clock.advance(30)
    partial = _messages(await api.get(f"/v2/lm/executions/{execution_id}/logs"))
    assert partial[0].startswith("Pulling image") and any(
        m.startswith("step 1/10") for m in partial
    )
    assert not any(m.startswith("step 10/10") for m in partial)
    clock.advance(35)
    full = _messages(await api.get(f"/v2/lm/executions/{execution_id}/logs"))
    assert any(m.startswith("step 10/10") for m in full)
    assert full[-1] == "RuntimeError: Pod OOMKilled"
    assert "Traceback (most recent call last):" in full


@pytest.mark.parametrize(
    "params",
    [
        {"$top": "0"},
        {"$top": "5001"},
        {"$order": "newest"},
        {"start": "yesterday"},
        {"start": "2025-01-06 09:00:00"},
        {"start": "2025-01-06T10:00:00Z", "end": "2025-01-06T09:00:00Z"},
    ],
)
async def test_logs_reject_bad_parameters(
    api: httpx.AsyncClient, sim: AICoreSimulator, params: dict[str, str]
) -> None:
    execution_id = sim.add_execution(configuration_id="conf-ok")
    response = await api.get(f"/v2/lm/executions/{execution_id}/logs", params=params)
    assert response.status_code == 400, params


async def test_logs_unencoded_plus_offset_is_rejected(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    execution_id = sim.add_execution(configuration_id="conf-ok")
    raw_plus = f"/v2/lm/executions/{execution_id}/logs?start=2025-01-06T09:00:00+00:00"
    response = await api.get(raw_plus)
    assert response.status_code == 400
    assert "%2B" in error_of(response)["message"]


# --- meta, configurations, metrics ----------------------------------------------------------------


async def test_meta_reports_capabilities(api: httpx.AsyncClient) -> None:
    meta = (await api.get("/v2/lm/meta")).json()
    assert meta["runtimeIdentifier"] == "aicore"
    assert meta["aiApi"]["version"] == "2.42.0"
    capabilities = meta["aiApi"]["capabilities"]
    assert capabilities["bulkUpdates"] == {"executions": True, "deployments": False}
    assert capabilities["logs"]["executions"] is True
    assert meta["extensions"] == {}


async def test_configurations(api: httpx.AsyncClient, sim: AICoreSimulator) -> None:
    listed = (await api.get("/v2/lm/configurations")).json()
    assert listed["count"] == 4
    assert [c["id"] for c in listed["resources"]] == [
        "conf-dead",
        "conf-lost",
        "conf-ok",
        "conf-stuck",
    ]
    one = (await api.get("/v2/lm/configurations/conf-ok")).json()
    assert one == {
        "id": "conf-ok",
        "name": "nightly training",
        "scenarioId": "training",
        "executableId": "train",
        "parameterBindings": [],
        "inputArtifactBindings": [],
        "createdAt": "2025-01-06T09:00:00Z",
    }
    assert (await api.get("/v2/lm/configurations/conf-none")).status_code == 404
    sim.add_configuration("conf-eval", scenario_id="evaluation")
    page = (await api.get("/v2/lm/configurations", params={"scenarioId": "evaluation"})).json()
    assert [c["id"] for c in page["resources"]] == ["conf-eval"]
    paged = (await api.get("/v2/lm/configurations", params={"$top": 1, "$skip": 1})).json()
    assert paged["count"] == 5 and len(paged["resources"]) == 1


async def test_configurations_show_their_bindings(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    sim.add_configuration(
        "conf-bound",
        parameters={"epochs": "3", "learning_rate": "0.001"},
        input_artifacts={"data": "art-0001"},
    )
    one = (await api.get("/v2/lm/configurations/conf-bound")).json()
    assert one["parameterBindings"] == [
        {"key": "epochs", "value": "3"},
        {"key": "learning_rate", "value": "0.001"},
    ]
    assert one["inputArtifactBindings"] == [{"key": "data", "artifactId": "art-0001"}]
    listed = (await api.get("/v2/lm/configurations")).json()["resources"]
    assert next(c for c in listed if c["id"] == "conf-bound") == one
    assert sim.configuration_json("conf-bound") == one
    assert sim.configuration_json("conf-bound", "team-b") is None


async def search(api: httpx.AsyncClient, params: Mapping[str, str | int]) -> tuple[int, list[str]]:
    response = await api.get("/v2/lm/configurations", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["count"], [c["name"] for c in body["resources"]]


async def test_search_is_a_substring_of_the_name(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    sim.add_configuration("conf-eval", name="Nightly evaluation", scenario_id="evaluation")
    sim.add_configuration("conf-week", name="weekly training")
    # The listing's order: createdAt, then id (conf-eval before conf-ok).
    assert await search(api, {"$search": "ightly"}) == (
        2,
        ["Nightly evaluation", "nightly training"],
    )
    assert await search(api, {"$search": "nightly"}) == (1, ["nightly training"])
    assert await search(api, {"$search": "NIGHTLY", "searchCaseInsensitive": "true"}) == (
        2,
        ["Nightly evaluation", "nightly training"],
    )
    assert await search(api, {"$search": "NIGHTLY", "searchCaseInsensitive": "false"}) == (
        0,
        [],
    )
    # count is every match, the page only what $top lets through; filters combine.
    assert await search(api, {"$search": "training", "$top": 1}) == (2, ["nightly training"])
    assert await search(api, {"$search": "ightly", "scenarioId": "evaluation"}) == (
        1,
        ["Nightly evaluation"],
    )
    # SAP's Python SDK sends the OData options without the "$".
    assert await search(api, {"search": "weekly"}) == (1, ["weekly training"])
    assert await search(api, {"$search": "x" * 80}) == (0, [])


@pytest.mark.parametrize(
    "params",
    [
        {"$search": ""},
        {"$search": "x" * 81},
        {"$search": "epochs~3"},
        {"$search": "nightly", "searchCaseInsensitive": "yes"},
    ],
)
async def test_search_refuses_what_the_spec_refuses(
    api: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await api.get("/v2/lm/configurations", params=params)
    assert response.status_code == 400
    assert error_of(response)["code"] == "InvalidRequest"


def new_configuration(**overrides: object) -> dict[str, object]:
    return {
        "name": "nightly training (lr 0.01)",
        "scenarioId": "training",
        "executableId": "train",
        "parameterBindings": [{"key": "learning_rate", "value": "0.01"}],
        "inputArtifactBindings": [{"key": "data", "artifactId": "art-0001"}],
        **overrides,
    }


async def create_configuration(
    api: httpx.AsyncClient, body: Mapping[str, object], *, group: str = "default"
) -> str:
    response = await api.post(
        "/v2/lm/configurations", json=body, headers={"AI-Resource-Group": group}
    )
    assert response.status_code == 201, response.text
    config_id: str = response.json()["id"]
    return config_id


async def test_create_configuration_answers_201_and_stores_it(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    clock.advance(90)
    before = sim.configuration_ids()
    response = await api.post("/v2/lm/configurations", json=new_configuration())
    assert response.status_code == 201
    config_id = response.json()["id"]
    assert response.json() == {"id": config_id, "message": "Configuration created"}
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", config_id)
    assert response.headers["location"] == f"http://sim/v2/lm/configurations/{config_id}"

    stored = (await api.get(f"/v2/lm/configurations/{config_id}")).json()
    assert stored == {
        "id": config_id,
        "name": "nightly training (lr 0.01)",
        "scenarioId": "training",
        "executableId": "train",
        "parameterBindings": [{"key": "learning_rate", "value": "0.01"}],
        "inputArtifactBindings": [{"key": "data", "artifactId": "art-0001"}],
        "createdAt": "2025-01-06T09:01:30Z",
    }
    assert sim.configuration_json(config_id) == stored
    assert sim.configuration_ids() == [*before, config_id]  # the newest lists last
    assert sim.configuration_ids("team-b") == ["conf-b"]
    [post] = sim.calls("POST", "/lm/configurations")
    assert post.json() == new_configuration()

    # Bindings are optional; a second configuration of the same name is another one.
    bare = {
        "name": "nightly training (lr 0.01)",
        "scenarioId": "training",
        "executableId": "train2",
    }
    other = await create_configuration(api, bare)
    assert other != config_id
    assert sim.configuration_json(other) == {
        **bare,
        "id": other,
        "parameterBindings": [],
        "inputArtifactBindings": [],
        "createdAt": "2025-01-06T09:01:30Z",
    }


@pytest.fixture
def sweep(sim: AICoreSimulator) -> AICoreSimulator:
    """Two seeded runs of one executable that differ in batch size, and so in outcome."""
    sim.add_configuration(
        "sweep-fits",
        executable_id="sweep",
        parameters={"batch_size": "32", "learning_rate": "0.001"},
        running_seconds=10,
    )
    sim.add_configuration(
        "sweep-ooms",
        executable_id="sweep",
        parameters={"batch_size": "512", "learning_rate": "0.001"},
        outcome="DEAD",
        status_message="CUDA out of memory",
        pending_seconds=1,
        running_seconds=3,
        last_words=("torch.cuda.OutOfMemoryError",),
    )
    return sim


def sweep_copy(**parameters: str) -> dict[str, object]:
    bindings = [{"key": key, "value": value} for key, value in parameters.items()]
    return new_configuration(executableId="sweep", parameterBindings=bindings)


async def test_a_created_configuration_runs_like_the_most_similar_one(
    api: httpx.AsyncClient, sweep: AICoreSimulator, clock: ManualClock
) -> None:
    ooms = await create_configuration(api, sweep_copy(batch_size="512", learning_rate="0.01"))
    # Another learning rate, or it would share it with the newer copy above, and tie.
    fits = await create_configuration(api, sweep_copy(batch_size="32", learning_rate="0.1"))
    dying, finishing = await start(api, ooms), await start(api, fits)

    clock.advance(3.9)  # sweep-ooms's timing (1 s pending, 3 s running), not the simulator's
    assert (await get(api, dying))["status"] == "RUNNING"
    clock.advance(0.1)
    dead = await get(api, dying)
    assert (dead["status"], dead["statusMessage"]) == ("DEAD", "CUDA out of memory")
    logs = await api.get(f"/v2/lm/executions/{dying}/logs")
    assert logs.json()["data"]["result"][-1]["msg"] == "torch.cuda.OutOfMemoryError"

    clock.advance(10.9)  # sweep-fits: the simulator's 5 s pending, its own 10 s running
    assert (await get(api, finishing))["status"] == "RUNNING"
    clock.advance(0.1)
    assert (await get(api, finishing))["status"] == "COMPLETED"


def test_ties_go_to_the_newest_configuration(sweep: AICoreSimulator, clock: ManualClock) -> None:
    # One value in common with each; sweep-ooms was registered last at the same instant.
    assert sweep.behaviour_source("training", "sweep", [("learning_rate", "0.001")]) == "sweep-ooms"
    clock.advance(1)
    sweep.add_configuration("sweep-later", executable_id="sweep")
    # No value in common with any: the newest of the scenario and executable still lends.
    assert sweep.behaviour_source("training", "sweep", [("epochs", "7")]) == "sweep-later"
    assert sweep.behaviour_source("training", "sweep", [("batch_size", "32")]) == "sweep-fits"
    assert sweep.behaviour_source("training", "other", [("batch_size", "32")]) is None
    assert sweep.behaviour_source("evaluation", "sweep", [("batch_size", "32")]) is None


async def test_a_created_configuration_can_lend_its_behaviour_too(
    api: httpx.AsyncClient, sweep: AICoreSimulator, clock: ManualClock
) -> None:
    clock.advance(1)
    first = await create_configuration(api, sweep_copy(batch_size="512", epochs="5"))
    assert sweep.behaviour_source("training", "sweep", [("epochs", "5")]) == first
    second = await create_configuration(api, sweep_copy(epochs="5"))
    execution_id = await start(api, second)
    clock.advance(4)
    assert (await get(api, execution_id))["status"] == "DEAD"  # first copied sweep-ooms


async def test_without_a_similar_configuration_a_created_one_completes(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    config_id = await create_configuration(api, new_configuration(executableId="brand-new"))
    execution_id = await start(api, config_id)
    clock.advance(64.9)  # the simulator's own timing: 5 s pending, 60 s running
    assert (await get(api, execution_id))["status"] == "RUNNING"
    clock.advance(0.1)
    assert (await get(api, execution_id))["status"] == "COMPLETED"


async def test_only_the_same_resource_group_lends_its_behaviour(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    # In "default" the newest training/train configuration is conf-lost (UNKNOWN forever);
    # team-b has only conf-b, which completes.
    config_id = await create_configuration(api, new_configuration(), group="team-b")
    assert sim.configuration_json(config_id) is None
    response = await api.post(
        "/v2/lm/executions",
        json={"configurationId": config_id},
        headers={"AI-Resource-Group": "team-b"},
    )
    execution_id = response.json()["id"]
    clock.advance(65)
    assert sim.execution_status(execution_id, "team-b") == "COMPLETED"


NAME_CHARACTERS = " .!?,;:[](){}<>\"'=+*/\\^&%@~$#|-_\t\u00a0Az09"
LONGEST_NAME = NAME_CHARACTERS + "x" * (256 - len(NAME_CHARACTERS))


@pytest.mark.parametrize(
    "body",
    [
        new_configuration(name=""),  # the spec's pattern allows an empty name
        new_configuration(name=LONGEST_NAME),
        new_configuration(parameterBindings=[{"key": "k" * 256, "value": "v" * 5000}] * 1000),
        new_configuration(inputArtifactBindings=[{"key": "k", "artifactId": "a" * 64}] * 1000),
        new_configuration(parameterBindings=[], inputArtifactBindings=[], extra="ignored"),
    ],
    ids=["empty-name", "longest-name", "most-parameters", "most-artifacts", "no-bindings"],
)
async def test_create_configuration_accepts_the_spec_limits(
    api: httpx.AsyncClient, body: dict[str, object]
) -> None:
    await create_configuration(api, body)


def _without(field: str) -> dict[str, object]:
    return {k: v for k, v in new_configuration().items() if k != field}


@pytest.mark.parametrize(
    "body",
    [
        _without("name"),
        _without("scenarioId"),
        _without("executableId"),
        new_configuration(name=None),
        new_configuration(name=LONGEST_NAME + "x"),
        new_configuration(name="naïve"),
        new_configuration(name="back`tick"),
        new_configuration(scenarioId="abc"),
        new_configuration(executableId="has space"),
        new_configuration(parameterBindings={"epochs": "3"}),
        new_configuration(parameterBindings=None),
        new_configuration(parameterBindings=[{"key": "epochs"}]),
        new_configuration(parameterBindings=[{"key": "epochs", "value": 3}]),
        new_configuration(parameterBindings=["epochs=3"]),
        new_configuration(parameterBindings=[{"key": "k", "value": "v"}] * 1001),
        new_configuration(parameterBindings=[{"key": "k" * 257, "value": "v"}]),
        new_configuration(parameterBindings=[{"key": "k", "value": "v" * 5001}]),
        new_configuration(inputArtifactBindings=[{"key": "data", "artifactId": "bad id"}]),
        new_configuration(inputArtifactBindings=[{"key": "data"}]),
        new_configuration(inputArtifactBindings=[{"key": "k", "artifactId": "art-1"}] * 1001),
        new_configuration(inputArtifactBindings=[{"key": "k" * 257, "artifactId": "art-1"}]),
        ["not", "an", "object"],
    ],
)
async def test_create_configuration_refuses_what_the_spec_refuses(
    api: httpx.AsyncClient, sim: AICoreSimulator, body: object
) -> None:
    before = sim.configuration_ids()
    response = await api.post("/v2/lm/configurations", json=body)
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "InvalidRequest"
    assert sim.configuration_ids() == before


async def test_create_configuration_needs_a_json_body(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    response = await api.post(
        "/v2/lm/configurations", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert len(sim.configuration_ids()) == 4


async def test_faults_and_recording_reach_configuration_creation(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    sim.inject_fault(status=503, method="POST", path_prefix="/lm/configurations")
    failed = await api.post("/v2/lm/configurations", json=new_configuration())
    assert failed.status_code == 503
    assert error_of(failed)["code"] == "ServiceUnavailable"
    assert len(sim.configuration_ids()) == 4  # a failed POST created nothing
    await create_configuration(api, new_configuration())
    assert len(sim.configuration_ids()) == 5
    posts = sim.calls("POST", "/lm/configurations")
    assert [p.json() for p in posts] == [new_configuration()] * 2
    assert all(p.headers["ai-resource-group"] == "default" for p in posts)


async def test_metrics(api: httpx.AsyncClient, sim: AICoreSimulator) -> None:
    execution_id = sim.add_execution(configuration_id="conf-ok", status="COMPLETED")
    empty = (await api.get("/v2/lm/metrics", params={"executionIds": execution_id})).json()
    assert empty == {"count": 0, "resources": []}

    sim.set_metrics(
        execution_id,
        [{"name": "accuracy", "value": 0.93, "step": 3, "labels": []}],
        tags=[{"name": "winner", "value": "true"}],
        custom_info=[{"name": "report", "value": "{}"}],
    )
    found = (
        await api.get("/v2/lm/metrics", params={"executionIds": f"{execution_id},other-run"})
    ).json()
    assert found["count"] == 1
    [resource] = found["resources"]
    assert resource["executionId"] == execution_id
    assert resource["metrics"] == [
        {
            "timestamp": "2025-01-06T09:00:00Z",
            "name": "accuracy",
            "value": 0.93,
            "step": 3,
            "labels": [],
        }
    ]
    assert resource["tags"] == [{"name": "winner", "value": "true"}]
    assert resource["customInfo"] == [{"name": "report", "value": "{}"}]

    by_tag = (await api.get("/v2/lm/metrics", params={"tagFilters": "winner=true"})).json()
    assert by_tag["count"] == 1
    selected = (
        await api.get("/v2/lm/metrics", params={"executionIds": execution_id, "$select": "tags"})
    ).json()
    assert "metrics" not in selected["resources"][0] and "tags" in selected["resources"][0]

    too_many = ",".join(f"exec{i:04d}" for i in range(11))
    assert (await api.get("/v2/lm/metrics", params={"executionIds": too_many})).status_code == 400
    assert (await api.get("/v2/lm/metrics")).status_code == 400


# --- faults, latency, recording -------------------------------------------------------------------


async def test_fault_429_with_retry_after_then_normal(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    sim.inject_fault(status=429, retry_after=2)
    limited = await api.get("/v2/lm/executions")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert error_of(limited)["code"] == "TooManyRequests"
    assert (await api.get("/v2/lm/executions")).status_code == 200


async def test_fault_500_times_and_scoping(api: httpx.AsyncClient, sim: AICoreSimulator) -> None:
    sim.inject_fault(status=500, method="POST", path_prefix="/lm/executions", times=2)
    assert (await api.get("/v2/lm/executions")).status_code == 200  # GET does not match
    for _ in range(2):
        failed = await api.post("/v2/lm/executions", json={"configurationId": "conf-ok"})
        assert failed.status_code == 500
        assert "retry-after" not in failed.headers
    assert (
        await api.post("/v2/lm/executions", json={"configurationId": "conf-ok"})
    ).status_code == 202
    assert len(sim.execution_ids()) == 1  # a failed POST created nothing


async def test_unscoped_fault_spares_the_token_endpoint(
    raw: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    sim.inject_fault(status=503)
    token = await grant(raw)
    response = await raw.get("/v2/lm/meta", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    sim.inject_fault(status=500, path_prefix="/oauth/token")
    assert (
        await raw.post("/oauth/token", data={"grant_type": "client_credentials"})
    ).status_code == 500


async def test_fault_delay_only_simulates_a_timeout(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    sim.inject_fault(status=0, delay=5.0)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(api.get("/v2/lm/executions"), timeout=0.05)
    started = time.monotonic()
    assert (await api.get("/v2/lm/executions")).status_code == 200
    assert time.monotonic() - started < 1.0


async def test_fault_delay_then_status(api: httpx.AsyncClient, sim: AICoreSimulator) -> None:
    sim.inject_fault(status=502, delay=0.05)
    started = time.monotonic()
    response = await api.get("/v2/lm/executions")
    assert response.status_code == 502
    assert time.monotonic() - started >= 0.05


def test_inject_fault_validates(sim: AICoreSimulator) -> None:
    with pytest.raises(ValueError):
        sim.inject_fault(status=999)
    with pytest.raises(ValueError):
        sim.inject_fault(status=500, times=0)


async def test_latency_applies_to_every_request(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    sim.latency = 0.05
    started = time.monotonic()
    await api.get("/v2/lm/meta")
    assert time.monotonic() - started >= 0.05


async def test_requests_are_recorded(api: httpx.AsyncClient, sim: AICoreSimulator) -> None:
    execution_id = await start(api)
    await api.get("/v2/lm/executions", params={"$top": 5, "status": "RUNNING"})
    await api.get(f"/v2/lm/executions/{execution_id}")
    await api.get(f"/v2/lm/executions/{execution_id}")

    assert [r.method for r in sim.requests] == ["POST", "GET", "GET", "GET"]
    [post] = sim.calls("POST", "/lm/executions")
    assert post.json() == {"configurationId": "conf-ok"}
    assert post.content_type == "application/json"
    assert post.headers["ai-resource-group"] == "default"
    assert post.headers["authorization"].startswith("Bearer ")
    [listing] = sim.calls("get", "/lm/executions")
    assert listing.query == {"$top": "5", "status": "RUNNING"}
    assert len(sim.calls("GET", f"/lm/executions/{execution_id}")) == 2
    assert len(sim.calls("GET")) == 3


def test_seeding_validates_input(sim: AICoreSimulator) -> None:
    with pytest.raises(ValueError):
        sim.add_configuration("conf-ok")
    with pytest.raises(ValueError):
        sim.add_configuration("conf-x", outcome="FAILED")
    with pytest.raises(ValueError):
        sim.add_configuration("x")
    with pytest.raises(KeyError):
        sim.add_configuration("conf-x", resource_group="nope")
    with pytest.raises(KeyError):
        sim.add_execution(configuration_id="conf-none")
    with pytest.raises(ValueError):
        sim.add_execution(configuration_id="conf-ok", status_message="needs a status")
    with pytest.raises(KeyError):
        sim.add_logs("feedfacecafebeef", ["x"])
    with pytest.raises(ValueError):
        sim.add_configuration("conf-x", parameters={"k" * 257: "v"})
    with pytest.raises(ValueError):
        sim.add_configuration("conf-x", parameters={"k": "v" * 5001})
    with pytest.raises(ValueError):
        sim.add_configuration("conf-x", input_artifacts={"data": "not an id"})
    assert "conf-x" not in sim.configuration_ids()


def test_advance_needs_a_manual_clock() -> None:
    with pytest.raises(TypeError):
        AICoreSimulator(clock=SystemClock()).advance(1)
    sim = AICoreSimulator()
    sim.add_configuration("conf-ok")
    execution_id = sim.add_execution(configuration_id="conf-ok")
    sim.advance(5)
    assert sim.execution_status(execution_id) == "RUNNING"


# --- the sandbox's demo ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("copied", "changed", "behaves_like"),
    [
        ("demo-fail", {"learning_rate": "0.01"}, "demo-fail"),
        ("demo-fail", {"epochs": "20"}, "demo-fail"),
        ("demo-train", {"epochs": "5"}, "demo-train"),
        ("demo-train", {"learning_rate": "0.01"}, "demo-train"),
        ("demo-queue", {"learning_rate": "0.01"}, "demo-queue"),
        ("demo-queue", {"batch_size": "32"}, "demo-queue"),
    ],
)
def test_a_changed_copy_of_a_demo_configuration_behaves_like_it(
    copied: str, changed: dict[str, str], behaves_like: str
) -> None:
    sim = aicore_simulator("cid", "csecret")
    original = sim.configuration_json(copied)
    assert original is not None
    values = {b["key"]: b["value"] for b in original["parameterBindings"]}
    assert set(changed) <= set(values) and values != {**values, **changed}
    parameters = list({**values, **changed}.items())
    assert sim.behaviour_source("demo", "trainer", parameters) == behaves_like


async def test_a_demo_fail_copy_with_another_learning_rate_dies_like_demo_fail() -> None:
    sim = aicore_simulator("cid", "csecret", speed=100)  # the real clock, 0.2 s to DEAD
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        form = {"grant_type": "client_credentials", "client_id": "cid", "client_secret": "csecret"}
        token = (await client.post("/oauth/token", data=form)).json()["access_token"]
        client.headers.update({"Authorization": f"Bearer {token}", **RG})
        copy = {
            "name": "Train with too large a batch (lr 0.01)",
            "scenarioId": "demo",
            "executableId": "trainer",
            "parameterBindings": [
                {"key": "epochs", "value": "10"},
                {"key": "learning_rate", "value": "0.01"},
                {"key": "batch_size", "value": "512"},
            ],
        }
        execution_id = await start(client, await create_configuration(client, copy))
        await until(lambda: _ended(sim, execution_id))
        run = await get(client, execution_id)
        logs = await client.get(
            f"/v2/lm/executions/{execution_id}/logs", params={"start": run["createdAt"]}
        )
    assert run["status"] == "DEAD"
    assert run["statusMessage"].startswith("Pod OOMKilled")
    assert logs.json()["data"]["result"][-1]["msg"] == OUT_OF_MEMORY_LOG[-1]


async def _ended(sim: AICoreSimulator, execution_id: str) -> bool:
    return sim.execution_status(execution_id) in {"DEAD", "COMPLETED"}


# --- prompt registry and optimization runs (their spec conformance: test_registry_simulator) --


OPTIMIZING = {
    "basePrompt": "support-bot/answer:1.0",
    "targetModels": "gpt-4o:2024-08-06,mistral-large:2407",
    "targetPromptMapping": "gpt-4o:2024-08-06=answer-gpt:2.0,mistral-large:2407=answer-m:2.0",
}


def add_optimization(sim: AICoreSimulator, config_id: str, **options: Any) -> None:
    sim.add_configuration(
        config_id, scenario_id="genai-optimizations", executable_id="genai-optimizations", **options
    )


async def registry_names(
    api: httpx.AsyncClient, headers: Mapping[str, str] | None = None
) -> list[tuple[str, str, str, str]]:
    response = await api.get("/v2/lm/promptTemplates", headers=headers)
    assert response.status_code == 200, response.text
    return [
        (r["scenario"], r["name"], r["version"], r["creationTimestamp"])
        for r in response.json()["resources"]
    ]


def test_optimization_and_series_seeding_validates_input(sim: AICoreSimulator) -> None:
    bad_bindings: list[dict[str, str]] = [
        {**OPTIMIZING, "basePrompt": "no-scenario"},
        {**OPTIMIZING, "targetModels": ",".join(f"m{i}:1" for i in range(5))},  # at most 4
        {**OPTIMIZING, "targetModels": "no-version"},
        {**OPTIMIZING, "targetPromptMapping": "gpt-4o:2024-08-06=no-version"},
        {**OPTIMIZING, "promptTemplateScope": "global"},
        {"basePrompt": "support-bot/answer:1.0"},  # a binding present: all are checked
    ]
    for parameters in bad_bindings:
        with pytest.raises(ValueError):
            add_optimization(sim, "conf-x", parameters=parameters)
    with pytest.raises(ValueError):  # True with nothing to write from
        add_optimization(sim, "conf-x", optimized_templates=True)
    with pytest.raises(ValueError):  # only optimizations write templates
        sim.add_configuration("conf-x", optimized_templates=False)
    bad_series: list[dict[str, object]] = [
        {"name": "loss", "value": 1.0},
        {"name": "loss", "step": -1, "value": 1.0},
        {"name": "loss", "step": True, "value": 1.0},
        {"name": "loss", "step": 1, "value": "1.0"},
        {"name": "", "step": 1, "value": 1.0},
        {"name": "loss", "step": 1, "value": 1.0, "timestamp": "2025-01-06T09:00:00Z"},
    ]
    for point in bad_series:
        with pytest.raises(ValueError):
            sim.add_configuration("conf-x", metrics=[point])
    assert "conf-x" not in sim.configuration_ids()
    # A lost optimization needs no bindings; nor does the default when there are none.
    add_optimization(sim, "conf-po-lost", optimized_templates=False)
    add_optimization(sim, "conf-po-bare")
    assert {"conf-po-lost", "conf-po-bare"} <= set(sim.configuration_ids())


def test_add_prompt_template_validates_input(sim: AICoreSimulator) -> None:
    with pytest.raises(ValueError):
        sim.add_prompt_template(scenario="s", name="has space", version="1")
    with pytest.raises(ValueError):
        sim.add_prompt_template(scenario="s", name="n", version="12345678901")  # 10 at most
    with pytest.raises(ValueError):
        sim.add_prompt_template(scenario="s/x", name="n", version="1")
    with pytest.raises(ValueError):
        sim.add_prompt_template(scenario="s", name="n", version="1", spec={"defaults": {}})
    with pytest.raises(KeyError):
        sim.add_prompt_template(scenario="s", name="n", version="1", resource_group="nope")
    made = sim.add_prompt_template(
        scenario="s", name="n", version="1.0.0-rc1", created_at=datetime(2025, 1, 1, 12)
    )
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", made
    )


async def test_registry_errors_have_the_registry_shape(api: httpx.AsyncClient) -> None:
    response = await api.get(
        "/v2/lm/promptTemplates",
        headers={"AI-Resource-Group-Scope": "true", "AI-Resource-Group": ""},
    )
    assert response.status_code == 400
    assert response.json() == {
        "request_id": response.headers["x-request-id"],
        "message": "Resource group '' does not exist",
    }
    unrouted = await api.post("/v2/lm/promptTemplates", json={})
    assert unrouted.status_code == 405 and unrouted.headers["allow"] == "GET"
    assert set(unrouted.json()) == {"request_id", "message"}


async def test_seeded_template_timestamps_are_utc(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    berlin = datetime.fromisoformat("2025-01-06T10:30:00+01:00")
    sim.add_prompt_template(scenario="s", name="a", version="1", created_at=berlin)
    sim.add_prompt_template(
        scenario="s", name="b", version="1", created_at=datetime(2025, 1, 6, 9, 0, 0, 250000)
    )
    assert await registry_names(api) == [
        ("s", "b", "1", "2025-01-06T09:00:00.250000Z"),  # a naive time is UTC
        ("s", "a", "1", "2025-01-06T09:30:00Z"),
    ]


async def test_a_run_pinned_after_completing_keeps_its_templates(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    add_optimization(
        sim,
        "conf-po",
        parameters={**OPTIMIZING, "targetPromptMapping": "gpt-4o:2024-08-06=answer-gpt:2.0"},
    )
    ran = await start(api, "conf-po")
    clock.advance(70)
    sim.set_status(ran, "UNKNOWN")  # after COMPLETED at +65 s, before any read
    sim.add_execution(configuration_id="conf-po", status="COMPLETED")
    never = sim.add_execution(configuration_id="conf-po", status="RUNNING")
    clock.advance(1)
    assert sim.execution_status(never) == "RUNNING"
    assert await registry_names(api) == [
        ("support-bot", "answer-gpt", "2.0", "2025-01-06T09:01:05Z"),
        ("support-bot", "answer-gpt", "2.0", "2025-01-06T09:01:10Z"),  # pinned at creation
    ]
    assert await registry_names(api, {"AI-Resource-Group-Scope": "True"}) == []  # tenant-wide


async def test_a_created_optimization_writes_and_logs_like_its_source(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    series = [{"name": "score", "step": 1, "value": 0.75}]
    add_optimization(
        sim, "conf-po-lost", parameters=OPTIMIZING, optimized_templates=False, metrics=series
    )
    body = new_configuration(
        scenarioId="genai-optimizations",
        executableId="genai-optimizations",
        parameterBindings=[{"key": k, "value": v} for k, v in OPTIMIZING.items()],
        inputArtifactBindings=[],
    )
    lost_copy = await create_configuration(api, body)
    run = await start(api, lost_copy)
    clock.advance(65)
    assert (await get(api, run))["status"] == "COMPLETED"
    assert await registry_names(api) == []  # it copied "did not beat the base prompt"
    metrics = (await api.get("/v2/lm/metrics", params={"executionIds": run})).json()
    assert [(m["name"], m["value"]) for m in metrics["resources"][0]["metrics"]] == [
        ("score", 0.75)
    ]

    # With no optimization to copy from, a created one writes its templates.
    fresh = AICoreSimulator(clock=clock, token_ttl=TOKEN_TTL)
    transport = httpx.ASGITransport(app=fresh.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as other:
        other.headers.update({"Authorization": f"Bearer {await grant(other)}", **RG})
        run = await start(other, await create_configuration(other, body))
        clock.advance(65)
        assert [name for _, name, _, _ in await registry_names(other)] == [
            "answer-gpt",
            "answer-m",
        ]
        assert (await other.get("/v2/lm/metrics", params={"executionIds": run})).json() == {
            "count": 0,
            "resources": [],
        }


async def test_configuration_series_coexist_with_set_metrics_and_tag_listings(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    sim.add_configuration("conf-series", metrics=[{"name": "loss", "step": 0, "value": 1}])
    lost = sim.add_execution(configuration_id="conf-series", status="UNKNOWN")
    runs = [await start(api, "conf-series") for _ in range(2)]
    seeded = await start(api, "conf-ok")
    sim.set_metrics(seeded, [{"name": "f1", "value": 0.5}], tags=[{"name": "winner", "value": "1"}])
    clock.advance(5)
    ids = ",".join([lost, *runs, seeded])
    found = (await api.get("/v2/lm/metrics", params={"executionIds": ids})).json()
    assert [r["executionId"] for r in found["resources"]] == [*runs, seeded]  # UNKNOWN: none
    assert found["resources"][0]["metrics"] == [
        {"timestamp": "2025-01-06T09:00:05Z", "name": "loss", "step": 0, "value": 1.0}
    ]
    untagged = (await api.get("/v2/lm/metrics", params={"tagFilters": "winner!=1"})).json()
    # Listed by (createdAt, executionId), as seeded resources are: same instant, so by id.
    assert [r["executionId"] for r in untagged["resources"]] == sorted(runs)
