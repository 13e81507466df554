"""SAP's own Python client (``sap-ai-sdk-core``) against the AI Core simulator.

Someone may point SAP's SDK at the sandbox's AI Core; these calls are the ones it makes. Each
test names what the SDK needs that a plain reading of the API would not give it: ``top`` and
``skip`` without the ``$``, a ``target`` in per-item bulk errors, a token it can keep.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.providers.aicore.simulator import AICoreSimulator
from tests.support.servers import ServedApp

sdk = pytest.importorskip(
    "ai_core_sdk.ai_core_v2_client",
    reason="sap-ai-sdk-core is not installed (pip install -e '.[test]')",
)
from ai_api_client_sdk.models.base_models import BasicModifyRequest, Order  # noqa: E402
from ai_api_client_sdk.models.target_status import TargetStatus  # noqa: E402


@pytest.fixture
def sim() -> AICoreSimulator:
    simulator = AICoreSimulator(pending_seconds=5, running_seconds=60)
    simulator.add_configuration("cfg-train")
    return simulator


@pytest.fixture
def served(sim: AICoreSimulator) -> Iterator[str]:
    with ServedApp(sim.app) as server:
        yield server.url


@pytest.fixture
def client(served: str) -> object:
    return sdk.AICoreV2Client(
        base_url=f"{served}/v2",
        auth_url=f"{served}/oauth/token",
        client_id="sim-client",
        client_secret="sim-secret",
        resource_group="default",
    )


def test_paging_with_top_and_skip_as_the_sdk_spells_them(sim: AICoreSimulator, client) -> None:
    ids = [sim.add_execution(configuration_id="cfg-train") for _ in range(5)]
    first = client.execution.query(top=2)
    rest = client.execution.query(top=10, skip=2)
    firsts, rests = [e.id for e in first.resources], [e.id for e in rest.resources]
    assert (len(firsts), len(rests)) == (2, 3)
    assert sorted(firsts + rests) == sorted(ids)  # each run once: the pages do not overlap
    assert first.count == 5


def test_start_read_stop_count_and_logs(sim: AICoreSimulator, client) -> None:
    created = client.execution.create(configuration_id="cfg-train")
    sim.clock.advance(6)  # type: ignore[attr-defined]
    run = client.execution.get(created.id)
    assert run.status.value == "RUNNING"
    assert client.execution.count() == 1
    logs = client.execution.query_logs(created.id, top=1, order=Order.DESC)
    assert len(logs.data.result) == 1
    client.execution.modify(created.id, target_status=TargetStatus.STOPPED)
    sim.clock.advance(5)  # type: ignore[attr-defined]
    assert client.execution.get(created.id).status.value == "STOPPED"


def test_a_bulk_change_with_one_unknown_run_reports_it_per_item(
    sim: AICoreSimulator, client
) -> None:
    known = sim.add_execution(configuration_id="cfg-train")
    answer = client.execution.bulk_modify(
        [
            BasicModifyRequest(id=known, target_status=TargetStatus.STOPPED),
            BasicModifyRequest(id="no-such-run", target_status=TargetStatus.STOPPED),
        ]
    )
    by_id = {item.id: item for item in answer.executions}
    assert not hasattr(by_id[known], "error")
    assert by_id["no-such-run"].error.target == "/lm/executions/no-such-run"
    assert by_id["no-such-run"].error.code


def test_the_sdk_keeps_its_token_for_many_calls(sim: AICoreSimulator, client) -> None:
    for _ in range(5):
        client.execution.count()
    assert sim.token_requests == 1


def test_retry_after_is_whole_seconds(sim: AICoreSimulator, served: str) -> None:
    sim.inject_fault(status=429, retry_after=2.5)
    sim.inject_fault(status=503, retry_after=0.2)
    token = httpx.post(
        f"{served}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("sim-client", "sim-secret"),
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "AI-Resource-Group": "default"}
    first = httpx.get(f"{served}/v2/lm/executions", headers=headers)
    second = httpx.get(f"{served}/v2/lm/executions", headers=headers)
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    assert (second.status_code, second.headers["Retry-After"]) == (503, "0")
