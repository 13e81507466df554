"""The HTTP side: ``POST /slack/events``, ``GET /healthz``, ``GET /metrics`` (and log pages)."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import Components
from bot.logpage import log_page_route
from bot.store.tables import WorkerState
from bot.workloop import Offload

log = logging.getLogger(__name__)


def build_web(
    components: Components,
    *,
    extra_routes: list[Route] | None = None,
    slack_endpoint: bool = True,
) -> Starlette:
    slack_handler = AsyncSlackRequestHandler(components.bolt)

    async def slack_events(request: Request) -> Response:
        # Bolt verifies the signature and timestamp before any listener runs (401 otherwise).
        return await slack_handler.handle(request)

    async def healthz(_request: Request) -> Response:
        states = await components.deps.offload(_states(components))
        healthy = states["database"] == "ok"
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", "components": states},
            status_code=200 if healthy else 503,
        )

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    log_links = components.service.log_links
    pages = (
        [offloaded(log_page_route(components.service, log_links), components.deps.offload)]
        if log_links is not None
        else []
    )
    routes = [
        *(extra_routes or []),  # first: a caller's route wins over a default one
        *pages,
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    if slack_endpoint:
        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    return Starlette(routes=routes)


async def _states(components: Components) -> dict[str, Any]:
    states: dict[str, Any] = {"database": await _database_state(components)}
    states.update({name: "configured" for name in components.providers})
    if states["database"] == "ok":
        states["last_polls"] = await _last_polls(components)
    return states


def offloaded(route: Route, offload: Offload[Response]) -> Route:
    """The same route, its work run where the bot's clients live (the work loop)."""
    inner = route.endpoint

    async def endpoint(request: Request) -> Response:
        return await offload(inner(request))

    return Route(route.path, endpoint, methods=list(route.methods or ["GET"]))


async def _last_polls(components: Components) -> dict[str, str]:
    """When each scope was last polled successfully (``provider/scope`` -> ISO time)."""
    async with components.db.session() as session:
        rows = await session.scalars(select(WorkerState).where(WorkerState.key.like("polled:%")))
        return {
            row.key.removeprefix("polled:").replace(":", "/", 1): str(row.value.get("at"))
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
