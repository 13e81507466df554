"""Shared fixtures: the AI Core simulator, the fake Slack, databases, and a wired bot.

PostgreSQL runs when ``TEST_DATABASE_URL`` is set (``.ci/run`` sets it): each test gets its
own schema, so parallel workers never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text

from bot.app import Components, build
from bot.http import RetryPolicy
from bot.providers.aicore.simulator import AICoreSimulator, ManualClock
from bot.settings import Settings
from tests.support.bolt import SIGNING_SECRET
from tests.support.fake_slack import FakeSlack
from tests.support.servers import ServedApp

BOT_TOKEN = "xoxb-test-token"
PG_ENV = "TEST_DATABASE_URL"

# Property tests keep no example database in the checkout (parallel runs, clean trees); their
# case counts are set per test (tests.support.properties), larger under HYPOTHESIS_PROFILE=ci.
hypothesis_settings.register_profile("default", database=None)
hypothesis_settings.register_profile("ci", database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def postgres_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every test that asks for a database runs on SQLite, and on PostgreSQL when available."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'chatops.db'}"
        return
    yield from _postgres_schema()


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    """PostgreSQL only: for the tests of many processes on many hosts (SQLite's share of them
    is one host's processes on one file, tested on its own)."""
    yield from _postgres_schema()


def _postgres_schema() -> Iterator[str]:
    """A fresh schema of the PostgreSQL database, dropped afterwards."""
    base = postgres_url()
    if base is None:
        pytest.skip(f"PostgreSQL variant: set {PG_ENV} to run it (CI does)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sim() -> AICoreSimulator:
    # The simulated clock starts at the real time: rows the bot stamps with its own clock
    # (subscriptions, pending actions) and the runs' times then agree.
    simulator = AICoreSimulator(
        clock=ManualClock(datetime.now(UTC)),
        pending_seconds=5,
        running_seconds=60,
        stopping_seconds=2,
    )
    simulator.add_configuration("cfg-train", name="resnet-train", scenario_id="training")
    simulator.add_configuration("cfg-dies", name="will-die", scenario_id="training", outcome="DEAD")
    return simulator


@pytest.fixture
def fake_slack() -> Iterator[tuple[FakeSlack, ServedApp]]:
    fake = FakeSlack(bot_token=BOT_TOKEN)
    with ServedApp(fake.app) as served:
        yield fake, served


def bot_settings(*, slack_url: str, aicore_url: str, database_url: str, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=f"{slack_url}/api/",
        aicore_client_id="sim-client",
        aicore_client_secret="sim-secret",
        aicore_auth_url=f"{aicore_url}/oauth/token",
        aicore_base_url=f"{aicore_url}/v2",
        database_url=database_url,
        **extra,
    )


FAST_RETRY = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.05, max_retry_after=2.0)


async def build_components(settings: Settings, http: httpx.AsyncClient) -> Components:
    """The bot's components in this process, registered as a live process (as a worker's
    heartbeat would have it): leases and jobs are only taken from processes that stopped."""
    components = await build(settings, http=http, retry=FAST_RETRY)
    await components.registry.beat(3600, {})
    return components


@pytest.fixture
async def wired(
    sim: AICoreSimulator, fake_slack: tuple[FakeSlack, ServedApp], database_url: str
) -> AsyncIterator[Components]:
    """The bot's components talking to the simulator in-process and the fake Slack over HTTP."""
    _fake, served = fake_slack
    settings = bot_settings(
        slack_url=served.url, aicore_url="http://aicore.sim", database_url=database_url
    )
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app))
    components = await build_components(settings, http)
    try:
        yield components
    finally:
        await components.aclose()
