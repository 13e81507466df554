"""Every request the AI Core client sends, and the answer it reads, checked against SAP's spec.

The client talks to the simulator through a transport that validates each exchange with the
official OpenAPI document (``../shared/specs/aicore.yaml``); the tests skip, saying where they
looked, when the document is absent.
"""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from bot.http import RetryPolicy
from bot.providers.aicore.client import AICoreClient
from bot.providers.aicore.simulator import AICoreSimulator
from bot.settings import AICoreCredentials
from tests.support.aicore_spec import load_spec, validate_exchange

pytestmark = pytest.mark.spec


class ValidatingTransport(httpx.AsyncBaseTransport):
    """Forwards to the simulator and checks every AI API exchange against the spec."""

    def __init__(self, app: object) -> None:
        self.inner = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        self.checked: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        if request.url.path.startswith("/v2/"):
            validate_exchange(request, response)
            self.checked.append(f"{request.method} {request.url.path}")
        return response


@pytest.fixture
async def client_and_sim():
    load_spec()  # skips with the path it looked at when the document is absent
    sim = AICoreSimulator()
    sim.add_configuration("cfg-train", name="resnet", scenario_id="training")
    transport = ValidatingTransport(sim.app)
    credentials = AICoreCredentials(
        client_id="sim-client",
        client_secret=SecretStr("sim-secret"),
        auth_url="http://sim/oauth/token",
        base_url="http://sim/v2",
        source="test",
    )
    async with httpx.AsyncClient(transport=transport) as http:
        yield (
            AICoreClient(credentials=credentials, http=http, retry=RetryPolicy(attempts=1)),
            sim,
            transport,
        )


async def test_the_clients_calls_conform_to_the_spec(client_and_sim) -> None:
    client, sim, transport = client_and_sim
    started = await client.start_execution("default", "cfg-train")
    await client.get_execution("default", started.id)
    await client.list_executions("default", status="PENDING")
    await client.count_executions("default")
    sim.add_logs(started.id, ["hello"])
    await client.tail_logs("default", started, 10)
    await client.stop_execution("default", started.id)
    sim.advance(10)
    await client.delete_execution("default", started.id)
    a = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    b = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    outcomes = await client.modify_many("default", [a, b], "STOPPED")  # bulk PATCH
    assert all(o.ok for o in outcomes)
    await client.get_configuration("default", "cfg-train")
    await client.get_metrics("default", [a])
    assert {
        "POST /v2/lm/executions",
        "PATCH /v2/lm/executions",
        "GET /v2/lm/meta",
        f"GET /v2/lm/executions/{started.id}/logs",
    } <= set(transport.checked)
