"""The HTTP side: ``POST /slack/events``, ``GET /healthz``, ``GET /metrics`` and log pages."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import Components
from bot.logpage import log_page_route
from bot.metrics import registry_for_scrape
from bot.store.tables import PollScope

log = logging.getLogger(__name__)


def build_web(
    components: Components,
    *,
    extra_routes: list[BaseRoute] | None = None,
    slack_endpoint: bool = True,
) -> Starlette:
    """``slack_endpoint``: serve ``/slack/events``. It is never served without a signing
    secret: Socket Mode without one takes no HTTP requests from Slack at all."""
    slack_handler = AsyncSlackRequestHandler(components.bolt)

    async def slack_events(request: Request) -> Response:
        # Bolt verifies the signature and timestamp before any listener runs (401 otherwise).
        return await slack_handler.handle(request)

    async def healthz(_request: Request) -> Response:
        states = await _states(components)
        healthy = states["database"] == "ok" and components.health.healthy
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", "components": states},
            status_code=200 if healthy else 503,
        )

    async def metrics(_request: Request) -> Response:
        registry: CollectorRegistry | None = registry_for_scrape()
        body = generate_latest(registry) if registry is not None else generate_latest()
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    log_links = components.service.log_links
    pages = [log_page_route(components.service, log_links)] if log_links is not None else []
    routes = [
        *(extra_routes or []),  # first: a caller's route wins over a default one
        *pages,
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    if slack_endpoint and components.settings.slack_signing_secret is not None:
        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    return Starlette(routes=routes)


async def _states(components: Components) -> dict[str, Any]:
    states: dict[str, Any] = {"database": await _database_state(components)}
    states.update({name: "configured" for name in components.providers})
    states["process"] = {
        "id": components.process_id,
        "role": components.role,
        "loops": components.health.as_dict(),
    }
    if states["database"] == "ok":
        try:
            states["processes"] = await components.registry.cluster()
            states["last_polls"] = await _last_polls(components)
            states["jobs"] = await components.jobs.backlog()
        except SQLAlchemyError as exc:
            log.warning("health check: could not read the state (%s)", type(exc).__name__)
    return states


async def _last_polls(components: Components) -> dict[str, Any]:
    """When each scope was last polled successfully, and its failures since."""
    async with components.db.read() as session:
        rows = await session.scalars(select(PollScope))
        return {
            f"{row.provider}/{row.scope}": {
                "at": row.last_ok_at.isoformat() if row.last_ok_at else None,
                "failures": row.failures,
                "error": row.last_error,
            }
            for row in rows
        }


async def _database_state(components: Components) -> str:
    try:
        async with components.db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health check: database unreachable (%s)", type(exc).__name__)
        return "unreachable"
    return "ok"
