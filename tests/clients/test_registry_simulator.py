"""The simulator's prompt registry and prompt-optimization runs, against SAP's specs.

Every answer of the registry's three read calls is validated against the prompt registry's
OpenAPI document (``tests/support/registry_spec.py``), metrics against AI Core's
(``tests/support/aicore_spec.py``); both are read from the shared folder, never copied here,
and these tests skip with a reason when either is absent.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bot.providers.aicore.simulator import AICoreSimulator, ManualClock
from tests.support import aicore_spec, registry_spec

pytestmark = pytest.mark.spec

TEMPLATES = "/v2/lm/promptTemplates"
SCOPED = {"AI-Resource-Group-Scope": "true"}
OPTIMIZATION = "genai-optimizations"
BINDINGS = {
    "basePrompt": "support-bot/answer:1.0",
    "targetModels": "gpt-4o:2024-08-06,mistral-large:2407,gemini-1.5-pro:002",
    # gemini has no mapping; the claude entry names a model that is not a target.
    "targetPromptMapping": (
        "gpt-4o:2024-08-06=answer-gpt:2.0,mistral-large:2407=answer-mistral:2.0,"
        "claude:3=answer-claude:2.0"
    ),
}
SPEC = {
    "template": [
        {"role": "system", "content": "You answer support tickets."},
        {"role": "user", "content": "{{?ticket}}"},
    ],
    "defaults": {"ticket": "none"},
}


@pytest.fixture(autouse=True)
def _specs() -> None:
    """Skip (with the reason) before any work when a spec is not there."""
    registry_spec.load_spec()
    aicore_spec.load_spec()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(clock: ManualClock) -> AICoreSimulator:
    simulator = AICoreSimulator(
        clock=clock, token_ttl=7 * 86400, resource_groups=("default", "team-b")
    )
    simulator.add_configuration(
        "conf-po",
        scenario_id=OPTIMIZATION,
        executable_id=OPTIMIZATION,
        parameters=BINDINGS,
    )
    simulator.add_configuration(
        "conf-po-rg",
        scenario_id=OPTIMIZATION,
        executable_id=OPTIMIZATION,
        resource_group="team-b",
        parameters={**BINDINGS, "promptTemplateScope": "resourcegroup"},
    )
    simulator.add_configuration(
        "conf-po-lost",
        scenario_id=OPTIMIZATION,
        executable_id=OPTIMIZATION,
        parameters=BINDINGS,
        optimized_templates=False,
    )
    simulator.add_configuration(
        "conf-po-dead",
        scenario_id=OPTIMIZATION,
        executable_id=OPTIMIZATION,
        parameters=BINDINGS,
        outcome="DEAD",
    )
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


def conforming(
    response: httpx.Response, status: int, *, check_request: bool = True
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    registry_spec.assert_conforms(response, check_request=check_request)
    body: dict[str, Any] = response.json()
    return body


async def listing(
    api: httpx.AsyncClient,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return conforming(await api.get(TEMPLATES, params=params, headers=headers), 200)


def refused(response: httpx.Response, status: int) -> str:
    """The message of a conforming ErrorResponse whose request_id is the request's."""
    body = conforming(response, status, check_request=False)
    registry_spec.validate_schema(body, "ErrorResponse")
    assert set(body) == {"request_id", "message"}
    assert body["request_id"] == response.headers["x-request-id"]
    message: str = body["message"]
    return message


def names(body: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return [(r["scenario"], r["name"], r["version"]) for r in body["resources"]]


async def start(api: httpx.AsyncClient, config_id: str, group: str = "default") -> str:
    response = await api.post(
        "/v2/lm/executions",
        json={"configurationId": config_id},
        headers={"AI-Resource-Group": group},
    )
    assert response.status_code == 202, response.text
    execution_id: str = response.json()["id"]
    return execution_id


async def execution(api: httpx.AsyncClient, execution_id: str, group: str = "default") -> Any:
    response = await api.get(
        f"/v2/lm/executions/{execution_id}", headers={"AI-Resource-Group": group}
    )
    assert response.status_code == 200, response.text
    return response.json()


# --- the three read calls ---------------------------------------------------------------------


async def test_listing_and_single_get_conform_with_and_without_spec(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    first = sim.add_prompt_template(scenario="support-bot", name="answer", version="1.0", spec=SPEC)
    clock.advance(10)
    second = sim.add_prompt_template(scenario="support-bot", name="answer", version="1.0")
    other = sim.add_prompt_template(scenario="support-bot", name="triage", version="3")

    plain = await listing(api)
    assert plain["count"] == 3
    assert [r["id"] for r in plain["resources"]] == [first, second, other]
    assert [r["isVersionHead"] for r in plain["resources"]] == [False, True, True]
    assert all("spec" not in r for r in plain["resources"])  # includeSpec defaults to false
    head = plain["resources"][1]
    assert head["managedBy"] == "imperative"
    assert head["creationTimestamp"] == "2025-01-06T09:00:10Z"
    assert "resourceGroupId" not in head  # tenant-wide

    assert all("spec" not in r for r in (await listing(api, {"includeSpec": "false"}))["resources"])
    with_spec = await listing(api, {"includeSpec": "true"})
    assert with_spec["resources"][0]["spec"] == SPEC
    default_spec = with_spec["resources"][1]["spec"]
    registry_spec.validate_schema(default_spec, "PromptTemplateSpec")
    assert default_spec["template"]

    one = conforming(await api.get(f"{TEMPLATES}/{first}"), 200)
    assert (one["id"], one["name"], one["version"], one["scenario"]) == (
        first,
        "answer",
        "1.0",
        "support-bot",
    )
    assert one["spec"] == SPEC and one["isVersionHead"] is False
    assert conforming(await api.get(f"{TEMPLATES}/{second}"), 200)["isVersionHead"] is True


async def test_filters_are_exact(api: httpx.AsyncClient, sim: AICoreSimulator) -> None:
    sim.add_prompt_template(scenario="support-bot", name="answer", version="1.0")
    sim.add_prompt_template(scenario="support-bot", name="answer", version="2.0")
    sim.add_prompt_template(scenario="support-bot", name="answer-long", version="1.0")
    sim.add_prompt_template(scenario="sales", name="answer", version="1.0")

    by_name = await listing(api, {"name": "answer"})
    assert names(by_name) == [
        ("support-bot", "answer", "1.0"),
        ("support-bot", "answer", "2.0"),
        ("sales", "answer", "1.0"),
    ]
    exact = await listing(api, {"scenario": "support-bot", "name": "answer", "version": "1.0"})
    assert names(exact) == [("support-bot", "answer", "1.0")]
    assert (await listing(api, {"scenario": "sales"}))["count"] == 1
    assert (await listing(api, {"name": "answ"}))["resources"] == []
    assert (await listing(api, {"retrieve": "imperative"}))["count"] == 4
    assert (await listing(api, {"retrieve": "declarative"}))["count"] == 0
    assert "retrieve" in refused(await api.get(TEMPLATES, params={"retrieve": "git"}), 400)


async def test_scope_header_selects_tenant_or_one_resource_group(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    tenant = sim.add_prompt_template(scenario="s1", name="shared", version="1")
    team_b = sim.add_prompt_template(
        scenario="s1", name="shared", version="1", resource_group="team-b"
    )
    default = sim.add_prompt_template(
        scenario="s1", name="mine", version="1", resource_group="default"
    )

    for flag in ("false", "False"):
        body = await listing(api, headers={"AI-Resource-Group-Scope": flag})
        assert [r["id"] for r in body["resources"]] == [tenant]
    assert [r["id"] for r in (await listing(api))["resources"]] == [tenant]  # no header: tenant

    for flag in ("true", "True"):
        body = await listing(api, headers={"AI-Resource-Group-Scope": flag})
        assert [r["id"] for r in body["resources"]] == [default]
        assert body["resources"][0]["resourceGroupId"] == "default"
    # Any case means true; the spec's enum lists only two spellings, so the request is not
    # checked, the answer is.
    upper = await api.get(TEMPLATES, headers={"AI-Resource-Group-Scope": "TRUE"})
    assert [r["id"] for r in conforming(upper, 200, check_request=False)["resources"]] == [default]

    scoped_b = await listing(api, headers={**SCOPED, "AI-Resource-Group": "team-b"})
    assert [(r["id"], r["isVersionHead"]) for r in scoped_b["resources"]] == [(team_b, True)]
    # The tenant's template of the same name is another one: each scope has its own head.
    assert (await listing(api))["resources"][0]["isVersionHead"] is True

    # The single GET sees only its scope.
    assert conforming(await api.get(f"{TEMPLATES}/{tenant}"), 200)["id"] == tenant
    refused(await api.get(f"{TEMPLATES}/{team_b}"), 404)
    refused(await api.get(f"{TEMPLATES}/{tenant}", headers=SCOPED), 404)
    got = await api.get(f"{TEMPLATES}/{team_b}", headers={**SCOPED, "AI-Resource-Group": "team-b"})
    assert conforming(got, 200)["resourceGroupId"] == "team-b"


async def test_scope_errors(api: httpx.AsyncClient) -> None:
    del api.headers["AI-Resource-Group"]
    assert (await listing(api))["count"] == 0  # tenant-wide needs no group
    message = refused(await api.get(TEMPLATES, headers=SCOPED), 400)
    assert "AI-Resource-Group" in message
    unknown = await api.get(TEMPLATES, headers={**SCOPED, "AI-Resource-Group": "nope"})
    assert "nope" in refused(unknown, 400)
    bad_flag = await api.get(TEMPLATES, headers={"AI-Resource-Group-Scope": "yes"})
    assert "AI-Resource-Group-Scope" in refused(bad_flag, 400)


async def test_unknown_and_malformed_ids(api: httpx.AsyncClient, sim: AICoreSimulator) -> None:
    sim.add_prompt_template(scenario="s1", name="n", version="1")
    missing = "5e6f7a8b-0000-4000-8000-000000000001"
    assert missing in refused(await api.get(f"{TEMPLATES}/{missing}"), 404)
    assert "UUID" in refused(await api.get(f"{TEMPLATES}/not-a-uuid"), 400)


@pytest.mark.parametrize(
    "params",
    [{"$top": 0}, {"$top": 501}, {"$top": "many"}, {"$skip": -1}, {"includeSpec": "yes"}],
)
async def test_paging_and_flags_are_checked_as_the_spec_bounds_them(
    api: httpx.AsyncClient, params: dict[str, str | int]
) -> None:
    (name,) = params
    assert name in refused(await api.get(TEMPLATES, params=params), 400)


async def test_top_and_skip_page_the_listing(api: httpx.AsyncClient, sim: AICoreSimulator) -> None:
    ids = [sim.add_prompt_template(scenario="s1", name=f"n{i}", version="1") for i in range(4)]
    page = await listing(api, {"$top": 2, "$skip": 1})
    assert page["count"] == 4  # every match, not the page
    assert [r["id"] for r in page["resources"]] == ids[1:3]
    assert [r["id"] for r in (await listing(api, {"$top": 500}))["resources"]] == ids
    assert (await listing(api, {"$top": 1}))["resources"][0]["id"] == ids[0]
    assert (await listing(api, {"$skip": 9}))["resources"] == []


async def test_history_lists_every_record_of_a_name_and_version(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    old = sim.add_prompt_template(scenario="support-bot", name="answer", version="1.0", spec=SPEC)
    clock.advance(60)
    new = sim.add_prompt_template(scenario="support-bot", name="answer", version="1.0")
    sim.add_prompt_template(scenario="support-bot", name="answer", version="1.1")
    sim.add_prompt_template(
        scenario="support-bot", name="answer", version="1.0", resource_group="default"
    )
    # "1.0" would fail the AI API's id rule (4 to 64 characters): the registry has its own.
    path = "/v2/lm/scenarios/support-bot/promptTemplates/answer/versions/1.0/history"
    body = conforming(await api.get(path), 200)
    assert [(r["id"], r["isVersionHead"]) for r in body["resources"]] == [(old, False), (new, True)]
    assert body["resources"][0]["spec"] == SPEC
    assert (
        conforming(await api.get(path, params={"$top": 1, "$skip": 1}), 200)["resources"][0]["id"]
        == new
    )
    assert conforming(await api.get(path, headers=SCOPED), 200)["count"] == 1
    unknown = "/v2/lm/scenarios/support-bot/promptTemplates/nothing/versions/9/history"
    assert conforming(await api.get(unknown), 200) == {"count": 0, "resources": []}
    assert "$top" in refused(await api.get(path, params={"$top": 0}), 400)


async def test_token_routing_and_fault_errors_use_the_registry_shape(
    api: httpx.AsyncClient, sim: AICoreSimulator
) -> None:
    unauthenticated = await api.get(TEMPLATES, headers={"Authorization": "Bearer wrong"})
    assert "token" in refused(unauthenticated, 401)
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Bearer")
    sim.inject_fault(status=503, path_prefix="/lm/promptTemplates")
    assert "Service Unavailable" in refused(await api.get(TEMPLATES), 503)
    assert (await listing(api))["count"] == 0  # the fault fired once
    # Elsewhere the AI API's own error body is unchanged.
    other = await api.get("/v2/lm/executions/nothing-here")
    assert other.status_code == 404 and set(other.json()) == {"error"}


# --- prompt optimizations ---------------------------------------------------------------------


async def test_a_completed_optimization_writes_one_template_per_mapped_target(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    run = await start(api, "conf-po")
    for _ in range(2):  # PENDING, then RUNNING: nothing yet
        assert (await listing(api))["count"] == 0
        clock.advance(30)
    clock.advance(30)  # COMPLETED at +65 s
    done = await execution(api, run)
    assert done["status"] == "COMPLETED"
    clock.advance(600)  # read long after: the templates date from the completion
    body = await listing(api, {"includeSpec": "true"})
    assert names(body) == [
        ("support-bot", "answer-gpt", "2.0"),
        ("support-bot", "answer-mistral", "2.0"),
    ]
    for resource in body["resources"]:
        assert resource["creationTimestamp"] == done["completionTime"] == "2025-01-06T09:01:05Z"
        assert resource["isVersionHead"] is True
        assert "resourceGroupId" not in resource
        assert run in resource["spec"]["template"][0]["content"]
    ids = [r["id"] for r in body["resources"]]

    # Reading again, by every call, writes nothing more.
    for _ in range(3):
        again = await listing(api)
        assert [r["id"] for r in again["resources"]] == ids
    history = "/v2/lm/scenarios/support-bot/promptTemplates/answer-gpt/versions/2.0/history"
    assert conforming(await api.get(history), 200)["count"] == 1
    assert conforming(await api.get(f"{TEMPLATES}/{ids[0]}"), 200)["name"] == "answer-gpt"
    assert (await listing(api, headers=SCOPED))["count"] == 0  # tenant-scoped run

    # A second run writes its own, which become the heads.
    second = await start(api, "conf-po")
    clock.advance(65)
    assert (await execution(api, second))["status"] == "COMPLETED"
    gpt = await listing(api, {"name": "answer-gpt"})
    assert [(r["id"] == ids[0], r["isVersionHead"]) for r in gpt["resources"]] == [
        (True, False),
        (False, True),
    ]
    assert (await listing(api))["count"] == 4


async def test_a_resource_group_scoped_optimization_writes_in_its_group(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    run = await start(api, "conf-po-rg", group="team-b")
    team_b = {**SCOPED, "AI-Resource-Group": "team-b"}
    assert (await listing(api, headers=team_b))["count"] == 0
    clock.advance(65)
    done = await execution(api, run, group="team-b")
    body = await listing(api, headers=team_b)
    assert names(body) == [
        ("support-bot", "answer-gpt", "2.0"),
        ("support-bot", "answer-mistral", "2.0"),
    ]
    assert {r["resourceGroupId"] for r in body["resources"]} == {"team-b"}
    assert {r["creationTimestamp"] for r in body["resources"]} == {done["completionTime"]}
    assert (await listing(api))["count"] == 0  # not tenant-wide
    assert (await listing(api, headers=SCOPED))["count"] == 0  # nor in "default"
    assert (await listing(api, headers=team_b))["count"] == 2


async def test_no_template_when_the_optimization_lost_or_died(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    lost = await start(api, "conf-po-lost")
    dead = await start(api, "conf-po-dead")
    clock.advance(65)
    assert (await execution(api, lost))["status"] == "COMPLETED"
    assert (await execution(api, dead))["status"] == "DEAD"
    assert (await listing(api))["count"] == 0
    assert (await listing(api, headers=SCOPED))["count"] == 0


async def test_a_run_deleted_before_anyone_read_the_registry_keeps_its_templates(
    api: httpx.AsyncClient, clock: ManualClock
) -> None:
    run = await start(api, "conf-po")
    clock.advance(65)
    assert (await api.delete(f"/v2/lm/executions/{run}")).status_code == 202
    clock.advance(5)
    body = await listing(api)
    assert names(body) == [
        ("support-bot", "answer-gpt", "2.0"),
        ("support-bot", "answer-mistral", "2.0"),
    ]
    assert {r["creationTimestamp"] for r in body["resources"]} == {"2025-01-06T09:01:05Z"}


async def test_a_template_added_later_is_newer_than_an_unread_completed_run(
    api: httpx.AsyncClient, sim: AICoreSimulator, clock: ManualClock
) -> None:
    await start(api, "conf-po")
    clock.advance(100)  # completed at +65 s, not read yet
    manual = sim.add_prompt_template(scenario="support-bot", name="answer-gpt", version="2.0")
    body = await listing(api, {"name": "answer-gpt"})
    assert [(r["id"] == manual, r["isVersionHead"]) for r in body["resources"]] == [
        (False, False),
        (True, True),
    ]


# --- metric series per configuration ----------------------------------------------------------


SERIES = [
    {"name": "loss", "step": 0, "value": 2.0},
    {"name": "loss", "step": 1, "value": float("nan")},
    {"name": "loss", "step": 2, "value": float("inf")},
    {"name": "grad_norm", "step": 2, "value": float("-inf")},
    {"name": "accuracy", "step": 2, "value": 1},
]


async def test_every_run_of_a_configuration_serves_its_series_once_past_pending(
    clock: ManualClock,
) -> None:
    sim = AICoreSimulator(clock=clock, token_ttl=7 * 86400)
    sim.add_configuration("conf-series", metrics=SERIES)
    sim.add_configuration("conf-plain")
    first = sim.add_execution(configuration_id="conf-series")
    plain = sim.add_execution(configuration_id="conf-plain")
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as api:
        form = {"grant_type": "client_credentials", "client_id": "sim-client"}
        token = (
            await api.post("/oauth/token", data={**form, "client_secret": "sim-secret"})
        ).json()
        api.headers.update(
            {"Authorization": f"Bearer {token['access_token']}", "AI-Resource-Group": "default"}
        )

        async def metrics(*ids: str) -> httpx.Response:
            response = await api.get("/v2/lm/metrics", params={"executionIds": ",".join(ids)})
            assert response.status_code == 200, response.text
            aicore_spec.assert_conforms(response)
            return response

        pending = (await metrics(first, plain)).json()
        assert pending == {"count": 0, "resources": []}
        clock.advance(5)  # RUNNING
        second = sim.add_execution(configuration_id="conf-series")  # PENDING still
        response = await metrics(first, second, plain)
        # What Python's json writes for the non-finite values, and reads back.
        assert b'"value":NaN' in response.content
        assert b'"value":Infinity' in response.content
        assert b'"value":-Infinity' in response.content
        body = response.json()
        assert body["count"] == 1
        (resource,) = body["resources"]
        assert resource["executionId"] == first
        assert resource["createdAt"] == "2025-01-06T09:00:05Z"
        points = resource["metrics"]
        assert [(p["name"], p["step"]) for p in points] == [(p["name"], p["step"]) for p in SERIES]
        assert {p["timestamp"] for p in points} == {"2025-01-06T09:00:05Z"}
        values = [p["value"] for p in points]
        assert values[0] == 2.0 and math.isnan(values[1])
        assert values[2:] == [math.inf, -math.inf, 1.0]

        clock.advance(timedelta(minutes=2).total_seconds())  # both COMPLETED
        both = (await metrics(first, second)).json()
        assert [r["executionId"] for r in both["resources"]] == [first, second]
        assert both["resources"][1]["createdAt"] == "2025-01-06T09:00:10Z"

        # What set_metrics seeds for a run replaces its configuration's series.
        sim.set_metrics(second, [{"name": "f1", "value": 0.5}])
        seeded = (await metrics(second)).json()["resources"][0]["metrics"]
        assert [(p["name"], p["value"]) for p in seeded] == [("f1", 0.5)]
