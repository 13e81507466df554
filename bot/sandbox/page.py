"""The sandbox's routes: the page, its small JSON API and live updates, and the local services.

- ``GET /`` and ``/sandbox/static/*``: the page (plain ES modules, nothing from elsewhere).
- ``GET /sandbox/api/state?user=U…``: channels, users, and what that user sees: messages
  (ephemeral ones only their own), open modals, the App Home view.
- ``GET /sandbox/api/events``: server-sent events, one per change, so the page redraws.
- ``POST /sandbox/api/command|action|submit|close|suggest|home``: what the user did (``home``:
  opened the Home tab; ``suggest``: typed in an external select); Slack's side of it is
  :class:`~bot.sandbox.workspace.Workspace`.
- ``/sandbox/slack/...``: the Slack Web API the bot calls; ``/sandbox/aicore/...`` and
  ``/sandbox/bria/...``: the simulators, where the real services are not configured.

The sandbox listens on 127.0.0.1 only; the page's API also refuses requests whose ``Host`` is
not this machine (a web page elsewhere cannot rebind a name to 127.0.0.1 and drive it) and
takes only JSON bodies (which a cross-site form cannot send).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.sandbox.menu import COMMANDS
from bot.sandbox.slack import FakeSlack
from bot.sandbox.workspace import CHANNELS, USERS, Answer, Workspace

STATIC = Path(__file__).parent / "static"
KEEPALIVE_SECONDS = 15.0
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def routes(
    workspace: Workspace, *, services: dict[str, ASGIApp], bot_name: str = "aicore-chatops"
) -> list[BaseRoute]:
    slack = workspace.slack

    async def index(_request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_NO_STORE)

    async def state(request: Request) -> Response:
        user = request.query_params.get("user") or USERS[0].id
        channels = _channels_of(slack, user, bot_name)
        return JSONResponse(
            {
                "version": slack.version,
                "bot": {"id": slack.bot_user_id, "name": bot_name},
                "users": [asdict(u) for u in USERS],
                "channels": channels,
                "commands": COMMANDS,
                "messages": {c["id"]: slack.visible(c["id"], user) for c in channels},
                "views": slack.open_views(user),
                "home": slack.home_view(user),
            },
            headers=_NO_STORE,
        )

    async def events(_request: Request) -> Response:
        return StreamingResponse(
            _changes(slack),
            media_type="text/event-stream",
            headers={**_NO_STORE, "X-Accel-Buffering": "no"},
        )

    async def command(request: Request) -> Response:
        body = await _json(request)
        return _answer(
            await workspace.command(
                user=_str(body, "user"), channel=_str(body, "channel"), text=_str(body, "text")
            )
        )

    async def action(request: Request) -> Response:
        body = await _json(request)
        element = body.get("action")
        if not isinstance(element, dict):
            return JSONResponse({"error": "action must be an object"}, status_code=400)
        return _answer(
            await workspace.click(
                user=_str(body, "user"),
                action=element,
                channel=body.get("channel"),
                message_ts=body.get("message_ts"),
                view_id=body.get("view_id"),
            )
        )

    async def submit(request: Request) -> Response:
        body = await _json(request)
        values = body.get("values")
        return _answer(
            await workspace.submit(
                user=_str(body, "user"),
                view_id=_str(body, "view_id"),
                values=values if isinstance(values, dict) else {},
            )
        )

    async def suggest(request: Request) -> Response:
        body = await _json(request)
        values = body.get("values")
        return _answer(
            await workspace.suggest(
                user=_str(body, "user"),
                view_id=_str(body, "view_id"),
                action_id=_str(body, "action_id"),
                block_id=_str(body, "block_id"),
                value=str(body.get("value") or ""),
                values=values if isinstance(values, dict) else {},
            )
        )

    async def home(request: Request) -> Response:
        body = await _json(request)
        return _answer(await workspace.open_home(user=_str(body, "user")))

    async def file(request: Request) -> Response:
        data = slack.file_bytes(request.path_params["file_id"])
        if data is None:
            return JSONResponse({"error": "no such file"}, status_code=404)
        return Response(data, media_type="image/png", headers=_NO_STORE)

    async def close(request: Request) -> Response:
        body = await _json(request)
        return _answer(
            await workspace.close(user=_str(body, "user"), view_id=_str(body, "view_id"))
        )

    api = [
        Route("/sandbox/api/state", state),
        Route("/sandbox/api/events", events),
        Route("/sandbox/api/command", command, methods=["POST"]),
        Route("/sandbox/api/action", action, methods=["POST"]),
        Route("/sandbox/api/submit", submit, methods=["POST"]),
        Route("/sandbox/api/close", close, methods=["POST"]),
        Route("/sandbox/api/suggest", suggest, methods=["POST"]),
        Route("/sandbox/api/home", home, methods=["POST"]),
        Route("/sandbox/api/files/{file_id}", file),
    ]
    return [
        Route("/", _local_only(index)),
        *[Route(r.path, _local_only(r.endpoint), methods=r.methods) for r in api],
        Mount("/sandbox/static", app=_guarded(StaticFiles(directory=STATIC))),
        Mount("/sandbox/slack", app=slack.app),
        *[Mount(f"/sandbox/{name}", app=_stripped(app)) for name, app in services.items()],
    ]


_NO_STORE = {"Cache-Control": "no-store"}


class _BadRequest(Exception):
    pass


async def _json(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise _BadRequest("send JSON")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise _BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise _BadRequest("the body must be a JSON object")
    return body


def _channels_of(slack: FakeSlack, user: str, bot_name: str) -> list[dict[str, Any]]:
    """The channels, and the user's DM with the app once the app opened it."""
    channels: list[dict[str, Any]] = [asdict(c) for c in CHANNELS]
    direct = slack.direct_channel(user)
    if direct is not None:
        topic = "Direct messages from the app"
        channels.append({"id": direct, "name": bot_name, "topic": topic, "direct": True})
    return channels


def _str(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _BadRequest(f"{name} is required")
    return value


def _answer(answer: Answer) -> Response:
    return JSONResponse(
        {"status": answer.status, "body": answer.body, "errors": answer.errors},
        status_code=200 if answer.status < 500 else 502,
    )


def _is_local(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return name in LOCAL_HOSTS


def _local_only(endpoint: Any) -> Any:
    async def guarded(request: Request) -> Response:
        if not _is_local(request.headers.get("host", "")):
            return JSONResponse({"error": "the sandbox answers this machine only"}, 403)
        try:
            response: Response = await endpoint(request)
        except _BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return response

    return guarded


def _guarded(app: ASGIApp) -> ASGIApp:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        host = dict(scope.get("headers") or []).get(b"host", b"").decode()
        if scope["type"] == "http" and not _is_local(host):
            await JSONResponse({"error": "the sandbox answers this machine only"}, 403)(
                scope, receive, send
            )
            return
        await app(scope, receive, send)

    return guarded


def _stripped(app: ASGIApp) -> ASGIApp:
    """Serve ``app`` under a prefix it does not know about (the simulators read the path)."""

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            root = scope.get("root_path", "")
            path = scope["path"]
            if root and path.startswith(root):
                path = path[len(root) :] or "/"
            scope = {**scope, "path": path, "raw_path": path.encode(), "root_path": ""}
        await app(scope, receive, send)

    return inner


async def _changes(slack: FakeSlack) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()

    def listener() -> None:
        loop.call_soon_threadsafe(changed.set)

    slack.add_listener(listener)
    try:
        seen = -1
        while True:
            if slack.version != seen:
                seen = slack.version
                yield f"data: {seen}\n\n"
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield ": keepalive\n\n"
    finally:
        slack.remove_listener(listener)
