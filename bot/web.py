"""The HTTP side: ``POST /slack/events``, ``GET /healthz``, ``GET /metrics`` and log pages."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot import inbound
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
    secret = components.settings.slack_signing_secret
    if slack_endpoint and secret is not None:
        verifier = SignatureVerifier(secret.get_secret_value())
        routes.append(Route("/slack/events", _slack_events(components, verifier), methods=["POST"]))
    return Starlette(routes=routes)


def _slack_events(
    components: Components, verifier: SignatureVerifier
) -> Callable[[Request], Awaitable[Response]]:
    async def slack_events(request: Request) -> Response:
        # Bolt's parsing and listener matching raise on a body of the wrong shape (HTTP 500):
        # such bodies are refused first. Nothing but its size is looked at before the
        # signature: an oversized body is not read, so it cannot be verified either.
        body = await inbound.read_capped(
            request.stream(), declared_length=request.headers.get("content-length")
        )
        if body is None:
            return _refused(inbound.TOO_LARGE)
        refusal = inbound.screen(body, request.headers.items(), verifier)
        if refusal is not None:
            return _refused(refusal)
        # Bolt verifies the signature again (401 otherwise) and parses these same bytes.
        bolt_request = inbound.repaired(to_async_bolt_request(request, body))
        return to_starlette_response(await components.bolt.async_dispatch(bolt_request))

    return slack_events


def _refused(refusal: inbound.Refusal) -> Response:
    # The reason names a field at most; the body itself stays out of the log.
    log.info("refused a request to /slack/events (%s): %s", refusal.status, refusal.reason)
    return PlainTextResponse(refusal.reason, status_code=refusal.status)


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
