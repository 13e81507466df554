"""How the sandbox is wired: settings for this run, and the routes the web process adds.

``python -m bot`` without Slack credentials calls :func:`prepare` before anything starts: it
fills in, for this run only, what a real workspace would give (a bot token, a signing secret
generated now, ``SLACK_API_URL`` pointing at the local Slack) and, where no credentials are
set, the simulators' URLs and keys. The children inherit them through the environment, like
any other setting, with :data:`SANDBOX_ENV` naming what is simulated. Only the web process
serves the sandbox (:func:`routes`), on 127.0.0.1, and only when the bot token is one
:func:`prepare` made: with real Slack credentials no sandbox route exists.
"""

from __future__ import annotations

import json
import secrets
import socket
import tempfile
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from bot.errors import ConfigError
from bot.sandbox import demo, page
from bot.sandbox.slack import FakeSlack
from bot.sandbox.workspace import (
    APP_ID,
    BOT_USER_ID,
    CHANNELS,
    TEAM_ID,
    USERGROUPS,
    Workspace,
)
from bot.settings import Settings

SANDBOX_ENV = "CHATOPS_SANDBOX"
TOKEN_PREFIX = "xoxb-sandbox-"
LOCALHOST = "127.0.0.1"
POLL_INTERVAL_SECONDS = "2"
PENDING_ALERT_SECONDS = "45"
STUCK_ALERT_SECONDS = "30"  # demo-hang is told within a minute
ACK_TIMEOUT_SECONDS = 10.0
EXAMPLE_POLICY = Path(__file__).with_name("policy.toml")  # alice, bob and carol's rights


@dataclass(frozen=True)
class Plan:
    """What this sandbox run simulates (carried to the children in :data:`SANDBOX_ENV`)."""

    aicore: bool
    bria: bool
    aicore_client_id: str = ""
    aicore_client_secret: str = ""
    bria_token: str = ""
    speed: float = 1.0  # SANDBOX_SPEED: the demo story this many times faster

    def dumps(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def loads(cls, text: str) -> Plan:
        return cls(**json.loads(text))


def prepare(environ: MutableMapping[str, str], settings: Settings) -> str:
    """Fill ``environ`` in for a sandbox run; returns the page's URL."""
    port = settings.port or _free_port()
    base = f"http://{LOCALHOST}:{port}"
    environ.pop("SLACK_APP_TOKEN", None)  # the local Slack speaks HTTP
    environ.update(
        {
            "PORT": str(port),
            "SLACK_BOT_TOKEN": TOKEN_PREFIX + secrets.token_hex(12),
            "SLACK_SIGNING_SECRET": secrets.token_hex(16),
            "SLACK_API_URL": f"{base}/sandbox/slack/api/",
        }
    )
    environ.setdefault("PUBLIC_URL", base)
    environ.setdefault("POLL_INTERVAL_SECONDS", POLL_INTERVAL_SECONDS)
    environ.setdefault("PENDING_ALERT_SECONDS", PENDING_ALERT_SECONDS)
    environ.setdefault("STUCK_ALERT_SECONDS", STUCK_ALERT_SECONDS)
    environ.setdefault("ACCESS_POLICY", str(EXAMPLE_POLICY))
    if "DATABASE_URL" not in environ:
        # A fresh database per run: the local Slack keeps nothing, so cards of an earlier
        # run would point at messages that are gone.
        folder = tempfile.mkdtemp(prefix="chatops-sandbox-")
        environ["DATABASE_URL"] = f"sqlite:///{folder}/sandbox.db"
    simulate_aicore = settings.aicore_credentials() is None
    simulate_bria = settings.bria_api_token is None
    plan = Plan(
        aicore=simulate_aicore,
        bria=simulate_bria,
        aicore_client_id="sandbox" if simulate_aicore else "",
        aicore_client_secret=secrets.token_hex(16) if simulate_aicore else "",
        bria_token=secrets.token_hex(16) if simulate_bria else "",
        speed=_speed(environ.get("SANDBOX_SPEED")),
    )
    if simulate_aicore:
        environ.update(
            {
                "AICORE_CLIENT_ID": plan.aicore_client_id,
                "AICORE_CLIENT_SECRET": plan.aicore_client_secret,
                "AICORE_AUTH_URL": f"{base}/sandbox/aicore/oauth/token",
                "AICORE_BASE_URL": f"{base}/sandbox/aicore/v2",
            }
        )
    if simulate_bria:
        environ.update(
            {"BRIA_API_TOKEN": plan.bria_token, "BRIA_BASE_URL": f"{base}/sandbox/bria/v1"}
        )
    environ[SANDBOX_ENV] = plan.dumps()
    return f"{base}/"


def active(environ: MutableMapping[str, str], settings: Settings) -> Plan | None:
    """The sandbox plan, if this process is part of a sandbox run."""
    text = environ.get(SANDBOX_ENV)
    token = settings.slack_bot_token
    if not text or token is None or not token.get_secret_value().startswith(TOKEN_PREFIX):
        return None
    return Plan.loads(text)


def routes(plan: Plan, settings: Settings, http: httpx.AsyncClient) -> list[BaseRoute]:
    """The local Slack, the simulators and the page, for the web process."""
    assert settings.slack_bot_token is not None and settings.slack_signing_secret is not None
    base = f"http://{LOCALHOST}:{settings.port}"
    slack = FakeSlack(
        bot_token=settings.slack_bot_token.get_secret_value(),
        team_id=TEAM_ID,
        bot_user_id=BOT_USER_ID,
        app_id=APP_ID,
        response_url_limit=None,
        real_time=True,
        usergroups=[dict(g) for g in USERGROUPS],
    )
    for channel in CHANNELS:
        slack.post_user_message(
            channel.id, f"Welcome to #{channel.name}. {channel.topic}.", user="USLACKBOT"
        )
    services: dict[str, ASGIApp] = {}
    if plan.aicore:
        services["aicore"] = demo.aicore_simulator(
            plan.aicore_client_id, plan.aicore_client_secret, speed=plan.speed
        ).app
    if plan.bria:
        services["bria"] = demo.bria_simulator(plan.bria_token, speed=plan.speed)[0].app
    workspace = Workspace(
        slack,
        events_url=f"{base}/slack/events",
        slack_base_url=f"{base}/sandbox/slack",
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        http=http,
    )
    return page.routes(workspace, services=services)


def banner(url: str, plan: Plan) -> str:
    simulated = [name for name, on in (("AI Core", plan.aicore), ("Bria", plan.bria)) if on]
    what = f"; simulated: {', '.join(simulated)}" if simulated else ""
    return (
        f"No Slack credentials, so this is the local sandbox: open {url}{what}. For a real "
        "workspace set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket "
        "Mode); see README.md"
    )


def _speed(text: str | None) -> float:
    try:
        speed = float(text) if text else 1.0
    except ValueError:
        raise ConfigError("SANDBOX_SPEED must be a number (1 is real time)") from None
    if not 0.1 <= speed <= 100:
        raise ConfigError("SANDBOX_SPEED must be between 0.1 and 100")
    return speed


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOCALHOST, 0))
        port: int = probe.getsockname()[1]
        return port
