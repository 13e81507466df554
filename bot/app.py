"""Wiring: build every component once from Settings and hand them down.

``Components`` owns the long-lived resources (HTTP client, database engine, Slack client) and
closes them on shutdown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.deps import Deps
from bot.errors import ConfigError
from bot.http import RetryPolicy, new_http_client
from bot.loglinks import LogLinks, derive_key
from bot.providers.aicore.client import AICoreClient
from bot.providers.aicore.provider import AICoreProvider
from bot.providers.base import Provider
from bot.providers.bria.client import BriaClient
from bot.providers.bria.provider import BriaProvider
from bot.service import Service
from bot.settings import Settings
from bot.store.db import Database
from bot.store.repo import Store
from bot.workloop import Offload, run_here

log = logging.getLogger(__name__)


@dataclass
class Components:
    settings: Settings
    http: httpx.AsyncClient
    db: Database
    store: Store
    slack: AsyncWebClient
    service: Service
    deps: Deps
    bolt: AsyncApp
    providers: dict[str, Provider] = field(default_factory=dict)

    async def aclose(self) -> None:
        await self.http.aclose()
        if self.slack.session is not None:
            await self.slack.session.close()
        await self.db.dispose()


def slack_web_client(settings: Settings, *, shared_session: bool = True) -> AsyncWebClient:
    """A Slack Web client whose 429s wait out Retry-After (not on by default in slack_sdk).

    The bot's own client shares one aiohttp session, so calls reuse connections. Bolt gets one
    without a session: it runs on the web loop, and a session belongs to the loop it was made on.
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=15,
        session=aiohttp.ClientSession() if shared_session else None,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
        ],
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
    signing_secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )
    # Bolt also reads SLACK_BOT_TOKEN and warns that the client's token wins; it is the same.
    logging.getLogger("slack_bolt").addFilter(_DropTokenSkippedWarning())
    app = AsyncApp(
        client=slack,
        signing_secret=signing_secret,
        # Socket Mode payloads come over an authenticated websocket and are not signed.
        request_verification_enabled=not settings.socket_mode,
        process_before_response=False,
        logger=logging.getLogger("slack_bolt"),
    )

    @app.error
    async def on_unexpected_error(error: Exception, body: dict[str, Any]) -> None:
        # Our own errors were answered by the listener; this is a bug: keep the traceback.
        log.error(
            "listener failed on a %s request", body.get("type") or "slash command", exc_info=error
        )

    return app


async def build(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    retry: RetryPolicy | None = None,
    migrate: bool = True,
    offload: Offload[Any] = run_here,
) -> Components:
    """Build everything; call it on the loop that will run the work (see ``bot.workloop``)."""
    from handlers import register_all  # handlers depend on bot, never the other way round

    http = http or new_http_client()
    db = Database(settings.database_url)
    if migrate:
        await db.migrate()
    store = Store(db)
    slack = slack_web_client(settings)
    providers = build_providers(settings, http, retry)
    log_links = None
    if settings.public_url and settings.slack_signing_secret:
        log_links = LogLinks(
            public_url=settings.public_url,
            key=derive_key(settings.slack_signing_secret.get_secret_value()),
        )
    service = Service(providers=providers, store=store, slack=slack, log_links=log_links)
    deps = Deps(settings=settings, service=service, store=store, offload=offload)
    bolt = build_bolt(
        settings, slack if offload is run_here else slack_web_client(settings, shared_session=False)
    )
    register_all(bolt, deps)
    return Components(
        settings=settings,
        http=http,
        db=db,
        store=store,
        slack=slack,
        service=service,
        deps=deps,
        bolt=bolt,
        providers=providers,
    )
