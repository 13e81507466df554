"""The Bria simulator: lifecycle on the clock, every documented error, faults, and the client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from bot.errors import AuthError, BadRequestError, ConflictError, NotFoundError, ProviderUnavailable
from bot.http import RetryPolicy
from bot.providers.bria.client import BriaClient
from bot.providers.bria.simulator import FORBIDDEN_TEXT, BriaSimulator, ManualClock
from tests.support.bria_fixtures import TOKEN, api, clock, dataset, sim  # noqa: F401 - fixtures
from tests.support.waits import Waits


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
async def client(sim: BriaSimulator, waits: Waits) -> AsyncIterator[BriaClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as http:
        yield BriaClient(
            token=SecretStr(TOKEN),
            base_url="http://bria",
            http=http,
            retry=RetryPolicy(attempts=3, sleep=waits),
        )


# --- lifecycle ------------------------------------------------------------------------------------


async def test_training_runs_on_the_clock_to_completion(
    sim: BriaSimulator, client: BriaClient, clock: ManualClock, dataset: int
) -> None:
    model_id = sim.add_model(dataset, name="Lora", training_mode="expert")
    started = await client.start_training(
        model_id, {"total_training_steps": 1000, "checkpoint_interval": 250}
    )
    assert started.status == "InProgress"
    assert started.training_parameters == {
        "learning_rate": 0.0001,
        "lr_scheduler": "constant_with_warmup",
        "rank": 128,
        "total_training_steps": 1000,
        "checkpoint_interval": 250,
        "lr_warmup_steps": 100,
    }
    clock.advance(1800)  # halfway: two checkpoints of four saved
    halfway = await client.get_model(model_id)
    assert (halfway.status, halfway.checkpoint_steps) == ("InProgress", [250, 500])
    clock.advance(1800)
    done = await client.get_model(model_id)
    assert (done.status, done.checkpoint_steps) == ("Completed", [250, 500, 750, 1000])
    assert sim.model_status(model_id) == "Completed"


async def test_training_can_end_in_failure(
    sim: BriaSimulator, client: BriaClient, clock: ManualClock, dataset: int
) -> None:
    model_id = sim.add_model(dataset, outcome="Failed")
    await client.start_training(model_id, {})
    clock.advance(3599)
    assert sim.model_status(model_id) == "InProgress"
    clock.advance(1)
    assert (await client.get_model(model_id)).status == "Failed"


async def test_stop_goes_through_stopping_to_stopped_and_then_delete(
    sim: BriaSimulator, client: BriaClient, clock: ManualClock, dataset: int
) -> None:
    model_id = sim.add_model(dataset)
    await client.start_training(model_id, {})
    clock.advance(60)
    assert await client.stop_training(model_id) == "Training job successfully stopped"
    assert sim.model_status(model_id) == "Stopping"
    with pytest.raises(ConflictError, match="still training: stop it first"):
        await client.delete_model(model_id)
    clock.advance(5)
    assert (await client.get_model(model_id)).status == "Stopped"
    clock.advance(7200)  # the training's own end never comes after a stop
    assert sim.model_status(model_id) == "Stopped"
    await client.delete_model(model_id)
    assert sim.model_status(model_id) is None
    with pytest.raises(NotFoundError, match=f"Bria has no model {model_id}"):
        await client.get_model(model_id)


async def test_legacy_models_get_legacy_defaults_and_a_prefix(
    sim: BriaSimulator, client: BriaClient
) -> None:
    project = sim.add_project()
    dataset = sim.add_dataset(project, training_version="max", caption_prefix="An icon of ")
    model_id = sim.add_model(dataset, training_mode="expert", training_version="light")
    started = await client.start_training(model_id, {"rank": 32})
    assert started.training_version == "light"
    assert started.generation_prefix == "An icon of "
    assert started.training_parameters["total_training_steps"] == 1500
    assert started.training_parameters["lr_scheduler"] == "constant"
    assert started.training_parameters["lr_warmup_steps"] is None
    assert started.training_parameters["rank"] == 32


async def test_list_is_every_model_with_or_without_parameters(
    sim: BriaSimulator, client: BriaClient, api: httpx.AsyncClient, dataset: int
) -> None:
    first = sim.add_model(dataset, name="one")
    second = sim.add_model(dataset, name="two", status="Completed")
    models = await client.list_models()
    assert [(m.id, m.status) for m in models] == [(first, "Created"), (second, "Completed")]
    assert models[1].training_parameters["total_training_steps"] == 750
    assert len(sim.calls("GET", "/tailored-gen/models")) == 1
    bare = (await api.get("/tailored-gen/models")).json()
    assert all("training_parameters" not in m for m in bare)


async def test_dataset_and_projects_are_served(
    sim: BriaSimulator, client: BriaClient, api: httpx.AsyncClient
) -> None:
    project = sim.add_project("Brand")
    dataset_id = sim.add_dataset(project, status="draft", training_version="fibo")
    dataset = await client.get_dataset(dataset_id)
    assert (dataset.status, dataset.project_id, dataset.training_version) == (
        "draft",
        project,
        "fibo",
    )
    projects = (await api.get("/tailored-gen/projects")).json()
    assert [(p["id"], p["training_version"]) for p in projects] == [(project, "fibo")]
    assert (await api.get(f"/tailored-gen/projects/{project}")).json()["project_name"] == "Brand"
    assert (await api.get("/tailored-gen/projects/999")).status_code == 404
    with pytest.raises(NotFoundError, match="Bria has no dataset 999"):
        await client.get_dataset(999)


async def test_both_base_paths_work_and_requests_are_recorded_without_v1(
    sim: BriaSimulator, dataset: int
) -> None:
    model_id = sim.add_model(dataset)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as http:
        headers = {"api_token": TOKEN}
        with_v1 = await http.get(f"http://b/v1/tailored-gen/models/{model_id}", headers=headers)
        without = await http.get(f"http://b/tailored-gen/models/{model_id}", headers=headers)
    assert with_v1.json() == without.json()
    assert [r.path for r in sim.calls("GET")] == [f"/tailored-gen/models/{model_id}"] * 2
    assert sim.requests[0].headers["api_token"] == TOKEN


def test_seeding_rules(sim: BriaSimulator) -> None:
    project = sim.add_project()
    dataset = sim.add_dataset(project, training_version="bria-2.3")
    assert sim.add_model(dataset) != dataset  # one id counter for every kind
    with pytest.raises(ValueError, match="outcome"):
        sim.add_model(dataset, outcome="Stopped")
    with pytest.raises(ValueError, match="status"):
        sim.add_model(dataset, status="Running")
    with pytest.raises(KeyError):
        sim.add_model(12345)
    with pytest.raises(ValueError, match="status"):
        sim.add_dataset(project, status="Completed")
    with pytest.raises(ValueError, match="times"):
        sim.inject_fault(status=500, times=0)
    with pytest.raises(ValueError):
        sim.inject_fault(status=999)


def test_set_status_pins_the_model(sim: BriaSimulator, clock: ManualClock, dataset: int) -> None:
    model_id = sim.add_model(dataset)
    sim.set_status(model_id, "InProgress")
    clock.advance(10 * 3600)
    assert sim.model_status(model_id) == "InProgress"
    assert sim.model_status(4242) is None


# --- documented errors ----------------------------------------------------------------------------


async def test_wrong_or_missing_token_is_401(sim: BriaSimulator, dataset: int) -> None:
    model_id = sim.add_model(dataset)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as http:
        url = f"http://b/v1/tailored-gen/models/{model_id}"
        assert (await http.get(url)).status_code == 401
        assert (await http.get(url, headers={"api_token": "nope"})).status_code == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}  # Bria does not read this header
        assert (await http.get(url, headers=bearer)).status_code == 401
        wrong = BriaClient(token=SecretStr("nope"), base_url="http://b", http=http)
        with pytest.raises(AuthError, match=r"Bria refused the API token \(BRIA_API_TOKEN\)"):
            await wrong.list_models()


async def test_forbidden_answers_403_with_a_plain_string(
    sim: BriaSimulator, client: BriaClient, api: httpx.AsyncClient, dataset: int
) -> None:
    model_id = sim.add_model(dataset)
    sim.set_forbidden(True)
    response = await api.post(f"/tailored-gen/models/{model_id}/start_training", json={})
    assert (response.status_code, response.json()) == (403, FORBIDDEN_TEXT)
    with pytest.raises(AuthError) as caught:
        await client.start_training(model_id, {})
    assert caught.value.message == (
        f"Bria refused: your plan or quota does not allow this ({FORBIDDEN_TEXT})"
    )
    assert sim.model_status(model_id) == "Created"
    sim.set_forbidden(False)
    assert (await client.get_model(model_id)).id == model_id


async def test_start_refusals(
    sim: BriaSimulator, client: BriaClient, clock: ManualClock, dataset: int
) -> None:
    draft = sim.add_dataset(sim.add_project(), status="draft")
    waiting = sim.add_model(draft)
    with pytest.raises(ConflictError, match=f"The dataset of model {waiting} is not completed"):
        await client.start_training(waiting, {})
    sim.set_dataset_status(draft, "completed")
    await client.start_training(waiting, {})

    with pytest.raises(ConflictError, match=f"Model {waiting} is already training"):
        await client.start_training(waiting, {})
    for status in ("Completed", "Failed", "Stopping", "Stopped"):
        sim.set_status(waiting, status)
        with pytest.raises(ConflictError, match="a stopped model cannot resume"):
            await client.start_training(waiting, {})

    with pytest.raises(NotFoundError, match="Bria has no model 99999"):
        await client.start_training(99999, {})
    assert len(sim.calls("POST")) == 8  # every refusal was a single call


async def test_parameters_for_a_fully_automated_model_are_400(
    sim: BriaSimulator, client: BriaClient, dataset: int
) -> None:
    model_id = sim.add_model(dataset, training_mode="fully_automated")
    with pytest.raises(BadRequestError) as caught:
        await client.start_training(model_id, {"rank": 64})
    assert "only supported when training_mode is set to 'expert'" in caught.value.message
    assert sim.model_status(model_id) == "Created"
    assert (await client.start_training(model_id, {})).status == "InProgress"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"learning_rate": 0.01}, "learning_rate"),
        ({"learning_rate": 1e-7}, "learning_rate"),
        ({"total_training_steps": 0}, "total_training_steps"),
        ({"total_training_steps": 5001}, "total_training_steps"),
        ({"max_train_steps": 9000}, "total_training_steps"),  # the deprecated alias
        ({"rank": 2}, "rank"),
        ({"rank": 300}, "rank"),
        ({"rank": 12.5}, "rank"),
        ({"rank": True}, "rank"),
        ({"checkpoint_interval": 50}, "checkpoint_interval"),
        ({"lr_warmup_steps": 1001}, "lr_warmup_steps"),
        ({"lr_scheduler": "exponential"}, "lr_scheduler"),
        ({"total_training_steps": 300, "checkpoint_interval": 400}, "checkpoint_interval"),
    ],
)
async def test_parameters_out_of_range_are_400(
    sim: BriaSimulator, api: httpx.AsyncClient, dataset: int, body: dict[str, object], field: str
) -> None:
    model_id = sim.add_model(dataset, training_mode="expert")
    response = await api.post(f"/tailored-gen/models/{model_id}/start_training", json=body)
    assert response.status_code == 400
    assert [e["field_name"] for e in response.json()["errors"]] == [field]
    assert sim.model_status(model_id) == "Created"


async def test_malformed_requests_are_400(
    sim: BriaSimulator, api: httpx.AsyncClient, dataset: int
) -> None:
    model_id = sim.add_model(dataset)
    start = f"/tailored-gen/models/{model_id}/start_training"
    assert (await api.post(start, content=b"not json")).status_code == 400
    assert (await api.post(start, json=[1])).status_code == 400
    assert (await api.get("/tailored-gen/models/abc")).status_code == 400
    assert (await api.get(f"/tailored-gen/datasets/{dataset}?max_images=500")).status_code == 400
    bad_flag = await api.get("/tailored-gen/models?include_training_parameters=maybe")
    assert bad_flag.status_code == 400
    assert (await api.put(f"/tailored-gen/models/{model_id}/stop_training")).status_code == 405
    assert (await api.get("/tailored-gen/nothing")).status_code == 404


async def test_stop_refusals(sim: BriaSimulator, client: BriaClient, dataset: int) -> None:
    model_id = sim.add_model(dataset)
    for status in ("Created", "Completed", "Failed", "Stopping", "Stopped"):
        sim.set_status(model_id, status)
        with pytest.raises(ConflictError, match=f"Model {model_id} is not training"):
            await client.stop_training(model_id)
    with pytest.raises(NotFoundError):
        await client.stop_training(99999)


async def test_delete_refusals_and_success(
    sim: BriaSimulator, client: BriaClient, api: httpx.AsyncClient, dataset: int
) -> None:
    model_id = sim.add_model(dataset, status="InProgress")
    with pytest.raises(ConflictError, match="still training"):
        await client.delete_model(model_id)
    sim.set_status(model_id, "Failed")
    response = await api.delete(f"/tailored-gen/models/{model_id}")
    assert (response.status_code, response.content) == (204, b"")
    with pytest.raises(NotFoundError):
        await client.delete_model(model_id)


# --- faults ---------------------------------------------------------------------------------------


async def test_a_429_fault_is_waited_out_by_the_client(
    sim: BriaSimulator, client: BriaClient, waits: Waits, dataset: int
) -> None:
    model_id = sim.add_model(dataset)
    sim.inject_fault(status=429, method="GET", retry_after=1.5)
    assert (await client.get_model(model_id)).id == model_id
    assert waits.seconds == [1.5]
    assert len(sim.calls("GET")) == 2


async def test_a_500_on_start_is_not_retried_and_nothing_started(
    sim: BriaSimulator, client: BriaClient, dataset: int
) -> None:
    model_id = sim.add_model(dataset)
    sim.inject_fault(status=500, method="POST", path_prefix="/v1/tailored-gen/models")
    with pytest.raises(ProviderUnavailable, match="nothing was started"):
        await client.start_training(model_id, {})
    assert len(sim.calls("POST")) == 1
    assert len(sim.calls("GET", f"/tailored-gen/models/{model_id}")) == 1
    assert sim.model_status(model_id) == "Created"


async def test_faults_are_scoped_counted_and_cleared(
    sim: BriaSimulator, api: httpx.AsyncClient, dataset: int
) -> None:
    model_id = sim.add_model(dataset)
    sim.inject_fault(status=503, path_prefix="/tailored-gen/datasets", times=2)
    sim.inject_fault(status=500, method="DELETE")
    assert (await api.get(f"/tailored-gen/models/{model_id}")).status_code == 200
    assert (await api.get(f"/tailored-gen/datasets/{dataset}")).status_code == 503
    assert (await api.get(f"/tailored-gen/datasets/{dataset}")).status_code == 503
    assert (await api.get(f"/tailored-gen/datasets/{dataset}")).status_code == 200
    sim.clear_faults()
    assert (await api.delete(f"/tailored-gen/models/{model_id}")).status_code == 204


async def test_faults_come_before_authentication_and_carry_retry_after(
    sim: BriaSimulator,
) -> None:
    sim.inject_fault(status=429, retry_after=30)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as http:
        response = await http.get("http://b/tailored-gen/models")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"
    assert response.json() == {"message": "Request limit exceeded."}


async def test_a_delay_only_fault_and_latency_still_answer(
    sim: BriaSimulator, api: httpx.AsyncClient
) -> None:
    sim.inject_fault(status=0, delay=0.01)
    sim.latency = 0.01
    assert (await api.get("/tailored-gen/models")).status_code == 200
    assert (await api.get("/tailored-gen/models")).status_code == 200
