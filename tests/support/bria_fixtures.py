"""Fixtures for tests that talk to the Bria simulator directly (import them into a module)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.providers.bria.simulator import BriaSimulator, ManualClock

TOKEN = "bria-test-token"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(clock: ManualClock) -> BriaSimulator:
    return BriaSimulator(clock=clock, training_seconds=3600, stopping_seconds=5)


@pytest.fixture
def dataset(sim: BriaSimulator) -> int:
    return sim.add_dataset(sim.add_project(), training_version="fibo")


@pytest.fixture
async def api(sim: BriaSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP against the simulator, with the token, at the real base path ``/v1``."""
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bria/v1", headers={"api_token": TOKEN}
    ) as client:
        yield client
