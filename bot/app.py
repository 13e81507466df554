"""Wiring: build every component once from Settings and hand them down.

``Components`` owns the long-lived resources (HTTP client, database engine, Slack clients)
and closes them on shutdown. The same components serve every role; a role uses its part.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.access.guard import OPEN_WARNING, Guard, open_guard
from bot.access.policy import load_policy
from bot.access.usergroups import UserGroups
from bot.audit import Audit
from bot.catalogue import Catalogue
from bot.deps import Deps
from bot.direct import DirectMessages
from bot.errors import ConfigError
from bot.followups import finish_stop_then_delete
from bot.http import RetryPolicy, new_http_client
from bot.jobs import JobQueue
from bot.leases import Leases, new_process_id
from bot.loglinks import LogLinks, derive_key
from bot.poll.writer import STOP_THEN_DELETE_JOB
from bot.providers.aicore.client import AICoreClient
from bot.providers.aicore.provider import AICoreProvider
from bot.providers.base import Provider
from bot.providers.bria.client import BriaClient
from bot.providers.bria.provider import BriaProvider
from bot.registry import Registry
from bot.runner import JobFunction
from bot.service import Service
from bot.settings import Settings
from bot.store.db import Database
from bot.store.repo import Store
from bot.supervise import Health

log = logging.getLogger(__name__)

LISTENER_FAILED = (
    ":boom: Something went wrong on the bot's side, so nothing was done; it has been logged "
    "for the operators."
)
SLACK_TIMEOUT_SECONDS = 15
DELIVERY_SLACK_TIMEOUT_SECONDS = 10  # see bot.delivery.IN_FLIGHT_GRACE_SECONDS


@dataclass
class Components:
    settings: Settings
    role: str
    process_id: str
    http: httpx.AsyncClient
    db: Database
    store: Store
    slack: AsyncWebClient  # for jobs: retries connection errors and waits out 429s
    delivery_slack: AsyncWebClient  # for delivery: no automatic retries (see bot.sending)
    service: Service
    deps: Deps
    bolt: AsyncApp
    jobs: JobQueue
    leases: Leases
    registry: Registry
    health: Health
    job_functions: dict[str, JobFunction] = field(default_factory=dict)
    providers: dict[str, Provider] = field(default_factory=dict)

    async def aclose(self) -> None:
        await self.http.aclose()
        for client in (self.slack, self.delivery_slack):
            if client.session is not None:
                await client.session.close()
        await self.db.dispose()


def slack_web_client(settings: Settings, *, retries: bool = True) -> AsyncWebClient:
    """A Slack Web client on one aiohttp session (calls reuse connections).

    With ``retries`` a 429 waits out Retry-After (not on by default in slack_sdk) and a dropped
    connection is tried once more; delivery's client has neither (see :mod:`bot.sending`).
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    handlers = (
        [
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
        ]
        if retries
        else []
    )
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT_SECONDS if retries else DELIVERY_SLACK_TIMEOUT_SECONDS,
        session=aiohttp.ClientSession(),
        retry_handlers=handlers,
    )


def check_providers(settings: Settings) -> None:
    """Fail fast, before touching the database, when no provider is usable."""
    if settings.aicore_credentials() is None and settings.bria_api_token is None:
        raise ConfigError(
            "No provider credentials: set AICORE_SERVICE_KEY (or AICORE_CLIENT_ID, "
            "AICORE_CLIENT_SECRET, AICORE_AUTH_URL and AICORE_BASE_URL, or VCAP_SERVICES), "
            "and/or BRIA_API_TOKEN"
        )


def build_providers(
    settings: Settings, http: httpx.AsyncClient, retry: RetryPolicy | None = None
) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    credentials = settings.aicore_credentials()
    if credentials is not None:
        client = AICoreClient(credentials=credentials, http=http, retry=retry)
        providers["aicore"] = AICoreProvider(client)
    if settings.bria_api_token is not None:
        bria = BriaClient(
            token=settings.bria_api_token, base_url=settings.bria_base_url, http=http, retry=retry
        )
        providers["bria"] = BriaProvider(bria)
    if not providers:
        check_providers(settings)  # raises, naming what to set
    return providers


class _DropTokenSkippedWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def build_bolt(settings: Settings, slack: AsyncWebClient) -> AsyncApp:
    """The Bolt app. Every HTTP request is verified (signature and timestamp), in every mode;
    Bolt skips only Socket Mode payloads, which arrive over Slack's authenticated websocket.

    ``process_before_response``: a listener only records a job and acks (milliseconds), so
    the HTTP answer is sent when it returns, instead of Bolt polling every 10 ms for the ack
    while the listener runs on (and discarding the ack when the listener fails after it).
    """
    signing_secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    )
    # Bolt also reads SLACK_BOT_TOKEN and warns that the client's token wins; it is the same.
    logging.getLogger("slack_bolt").addFilter(_DropTokenSkippedWarning())
    app = AsyncApp(
        client=slack,
        signing_secret=signing_secret,
        request_verification_enabled=True,
        process_before_response=True,
        logger=logging.getLogger("slack_bolt"),
    )

    @app.error
    async def on_unexpected_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        # Our own errors were answered by the listener; this is a bug: keep the traceback,
        # and answer Slack (a 500 would make it retry, and the user see a generic failure).
        log.error(
            "listener failed on a %s request", body.get("type") or "slash command", exc_info=error
        )
        if "command" in body:
            answer = {"response_type": "ephemeral", "text": LISTENER_FAILED}
            return BoltResponse(
                status=200, body=json.dumps(answer), headers={"content-type": "application/json"}
            )
        return BoltResponse(status=200, body="")

    return app


def build_guard(settings: Settings, slack: AsyncWebClient) -> Guard:
    """The access policy's guard; a malformed ``ACCESS_POLICY`` stops start-up here."""
    return open_guard(settings.access_policy, UserGroups(slack))


def check_policy(settings: Settings) -> None:
    """At start-up, before any process is spawned: a malformed policy stops it (one line
    naming the file, the line and the problem); no policy at all is worth a warning."""
    if settings.access_policy:
        load_policy(Path(settings.access_policy))
    else:
        log.warning(OPEN_WARNING)


async def build(
    settings: Settings,
    *,
    role: str = "all",
    http: httpx.AsyncClient | None = None,
    retry: RetryPolicy | None = None,
    migrate: bool = True,
    process_id: str | None = None,
) -> Components:
    """Build everything, on the event loop that will use it."""
    from handlers import job_functions, register_all  # handlers depend on bot, not back

    http = http or new_http_client()
    db = Database(settings.database_url)
    if migrate:
        await db.migrate()
    process_id = process_id or new_process_id()
    store = Store(db)
    slack = slack_web_client(settings)
    providers = build_providers(settings, http, retry)
    log_links = None
    if settings.public_url and settings.slack_signing_secret:
        log_links = LogLinks(
            public_url=settings.public_url,
            key=derive_key(settings.slack_signing_secret.get_secret_value()),
        )
    audit = Audit(db, clock=store.clock)
    service = Service(
        providers=providers, store=store, slack=slack, audit=audit, log_links=log_links
    )
    jobs = JobQueue(db, process_id)
    deps = Deps(
        settings=settings,
        service=service,
        store=store,
        jobs=jobs,
        guard=build_guard(settings, slack),
        audit=audit,
        catalogue=Catalogue(),
        direct=DirectMessages(slack),
    )
    bolt = build_bolt(settings, slack)
    register_all(bolt, deps)
    functions = job_functions(deps)
    functions[STOP_THEN_DELETE_JOB] = lambda job: finish_stop_then_delete(deps, job)
    return Components(
        settings=settings,
        role=role,
        process_id=process_id,
        http=http,
        db=db,
        store=store,
        slack=slack,
        delivery_slack=slack_web_client(settings, retries=False),
        service=service,
        deps=deps,
        bolt=bolt,
        jobs=jobs,
        leases=Leases(db, process_id, liveness=True),
        registry=Registry(db, process_id, role),
        health=Health(),
        job_functions=functions,
        providers=providers,
    )
