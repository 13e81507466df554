"""The local Slack's HTTP front end (for :mod:`bot.sandbox.slack`).

``POST /api/<method>`` (or ``GET``) is decoded (JSON or form, JSON-in-form fields too),
authenticated by its bearer token, recorded as a :class:`~bot.sandbox.slack_records.SlackCall`
and dispatched to a Web API method; ``/upload/<file_id>`` and ``/files/<file_id>`` carry file
bytes. Here too is how tests steer and watch the answers: injected failures, late answers,
Slack's pacing, the recorded calls and waiting for a condition on them.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute

from bot.sandbox.slack_records import Failure, SlackCall, SlackError
from bot.sandbox.slack_state import SlackState


class SocketModeServer(Protocol):
    """What a Socket Mode server (the tests' fake) offers this Web API."""

    @property
    def route(self) -> BaseRoute: ...

    def connections_open(self, token: str | None, base_url: str) -> dict[str, Any]: ...


# Fields Slack accepts as JSON text inside a form-encoded body.
_JSON_FIELDS = ("blocks", "attachments", "metadata", "view")
# What Slack answers when such a field is not valid JSON.
_JSON_FIELD_ERRORS = {
    "blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "metadata": "invalid_metadata_format",
    "view": "invalid_arguments",
}
# Methods that change nothing a page would show.
_READ_METHODS = frozenset(
    {"auth.test", "chat.getPermalink", "conversations.history", "conversations.replies"}
)

_Handler = Callable[[dict[str, Any]], dict[str, Any]]


class HttpFrontEnd(SlackState):
    """The Web API endpoint, the file endpoints and the test-facing call log (for FakeSlack)."""

    bot_token: str
    socket_mode: SocketModeServer | None
    pace_seconds: float | None
    pacing_refusals: int  # chat.postMessage calls answered 429 for pacing
    _last_post: dict[str, float]  # channel -> when its last chat.postMessage was accepted
    _late: dict[str, deque[float]]  # method -> delays queued for its next answers
    _handlers: dict[str, _Handler]  # Web API method -> handler

    # ------------------------------------------------------------------ test-facing API

    @property
    def calls(self) -> list[SlackCall]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def clear_calls(self) -> None:
        """Forget recorded calls (state such as messages and views is kept)."""
        with self._lock:
            self._calls.clear()

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        error: str | None = None,
        channel: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (about ``channel``, if given) fail.

        * ``error`` given: HTTP 200 ``{"ok": false, "error": error}`` (an API-level error).
        * ``status=429``: HTTP 429 with ``Retry-After: retry_after`` and Slack's
          ``ratelimited`` body, which is what slack_sdk's rate-limit retry handler reads.
        * other statuses (500, 503, ...): that status with an HTML body and no JSON, like an
          outage page in front of Slack.

        ``method="response_url"`` makes response-URL posts fail with ``status`` instead.
        """
        with self._lock:
            queue = self._failures.setdefault(method, deque())
            for _ in range(times):
                queue.append(
                    Failure(status=status, retry_after=retry_after, error=error, channel=channel)
                )

    def answer_late(self, method: str, *, seconds: float, times: int = 1) -> None:
        """Process the next ``times`` calls of ``method`` at once but answer ``seconds`` later.

        Slack has the message while the caller still waits: a caller that dies meanwhile
        never learns that its post went through.
        """
        with self._lock:
            queue = self._late.setdefault(method, deque())
            for _ in range(times):
                queue.append(seconds)

    # The timeout parameter is the contract tests rely on (and it shapes the error message),
    # so it stays instead of asking every caller to wrap this in asyncio.timeout().
    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Poll ``predicate`` every 20 ms until it holds; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(predicate, timeout))
            await asyncio.sleep(0.02)

    def wait_for_sync(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Blocking twin of :meth:`wait_for`, for tests that drive a subprocess."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                raise AssertionError(self._timeout_message(predicate, timeout))
            time.sleep(0.02)

    # ------------------------------------------------------------------ HTTP layer

    async def _api_endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        arrived = time.monotonic()
        body = await request.body()
        args, decode_error = _decode_args(
            body, request.headers.get("content-type", ""), dict(request.query_params)
        )
        token = _bearer_token(request.headers.get("authorization")) or args.pop("token", None)
        if method == "apps.connections.open" and self.socket_mode is not None:
            with self._lock:
                self._calls.append(SlackCall(method=method, args=args, at=arrived))
            return JSONResponse(self.socket_mode.connections_open(token, str(request.base_url)))

        with self._lock:
            # Where this app is served, mount prefix included (``base_url`` leaves it out).
            self._base_url = str(request.url).split("?", 1)[0].rsplit("/api/", 1)[0] + "/"
            call = SlackCall(method=method, args=args, at=arrived)
            self._calls.append(call)
            if token is None:
                return self._answer_error(call, "not_authed")
            if token != self.bot_token:
                return self._answer_error(call, "invalid_auth")
            # Injected failures are consumed only by authenticated calls, so a test of the
            # bad-token path can't accidentally eat a 429 meant for the bot.
            channel = args.get("channel")
            failure = self._pop_failure(method, channel if isinstance(channel, str) else None)
            failure = failure or self._over_pace(method, args, arrived)
            if failure is not None:
                return self._answer_failure(call, failure)
            if decode_error is not None:
                return self._answer_error(call, decode_error)
            handler = self._handlers.get(method)
            if handler is None:
                return self._answer_error(call, "unknown_method")
            try:
                # Handlers work on a copy so later mutation can't rewrite the call record.
                result = handler(copy.deepcopy(args))
            except SlackError as exc:
                return self._answer_error(call, exc.error)
            late = self._late.get(method)
            delay = late.popleft() if late else 0.0
        if method not in _READ_METHODS:
            self._changed()
        if delay:
            await asyncio.sleep(delay)
        return JSONResponse({"ok": True, **result})

    async def _upload_endpoint(self, request: Request) -> Response:
        """Step 2 of an upload: the URL is the credential, as on files.slack.com."""
        data = await request.body()
        with self._lock:
            self._calls.append(
                SlackCall(
                    method="upload",
                    args={"file_id": request.path_params["file_id"]},
                    at=time.monotonic(),
                )
            )
            accepted = self._files.receive(request.path_params["file_id"], data)
        if not accepted:
            return PlainTextResponse("not found", status_code=404)
        return PlainTextResponse(f"OK - {len(data)}")

    async def _file_endpoint(self, request: Request) -> Response:
        """A shared file's bytes (what the sandbox page shows as the image)."""
        with self._lock:
            stored = self._files.get(request.path_params["file_id"])
            data = stored.data if stored is not None and stored.channel is not None else None
            name = stored.filename if stored is not None else ""
        if data is None:
            return PlainTextResponse("not found", status_code=404)
        kind = "image/png" if name.lower().endswith(".png") else "application/octet-stream"
        return Response(data, media_type=kind)

    def _over_pace(self, method: str, args: dict[str, Any], arrived: float) -> Failure | None:
        """Slack's pacing: about one message per second per channel, 429 beyond it."""
        if method != "chat.postMessage" or not self.pace_seconds:
            return None
        channel = str(args.get("channel") or "")
        last = self._last_post.get(channel)
        if last is not None and arrived - last < self.pace_seconds:
            self.pacing_refusals += 1
            return Failure(status=429, retry_after=1, error=None)
        self._last_post[channel] = arrived
        return None

    @staticmethod
    def _answer_error(call: SlackCall, error: str) -> Response:
        call.error = error
        return JSONResponse({"ok": False, "error": error})

    @staticmethod
    def _answer_failure(call: SlackCall, failure: Failure) -> Response:
        if failure.error is not None:
            call.error = failure.error
            return JSONResponse({"ok": False, "error": failure.error})
        call.status = failure.status
        if failure.status == 429:
            call.error = "ratelimited"
            return JSONResponse(
                {"ok": False, "error": "ratelimited"},
                status_code=429,
                headers={"Retry-After": str(failure.retry_after)},
            )
        call.error = f"http_{failure.status}"
        return Response(
            "<html><body><h1>Service Unavailable</h1></body></html>",
            status_code=failure.status,
            media_type="text/html",
        )

    def _timeout_message(self, predicate: Callable[[], bool], timeout: float) -> str:
        with self._lock:
            calls = list(self._calls)
        lines = [
            f"condition {getattr(predicate, '__name__', predicate)!s} not met within "
            f"{timeout:.1f}s; {len(calls)} call(s) recorded:"
        ]
        for c in calls[-50:]:
            outcome = "ok" if c.error is None else f"{c.status} {c.error}"
            args = json.dumps(c.args, default=str)
            if len(args) > 300:
                args = args[:300] + "..."
            lines.append(f"  {c.method} -> {outcome}: {args}")
        return "\n".join(lines)


# ---------------------------------------------------------------------- request decoding


def _bearer_token(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[len("bearer ") :].strip()
    return None


def _decode_args(
    body: bytes, content_type: str, query: dict[str, str]
) -> tuple[dict[str, Any], str | None]:
    """Merge query string and body (JSON or form) into one dict, decoding JSON-in-form fields.

    Returns the args and, when a JSON field could not be decoded, the Slack error for it.
    """
    args: dict[str, Any] = dict(query)
    if body:
        text = body.decode("utf-8")
        if "json" in content_type:
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                return args, "invalid_json"
            if not isinstance(parsed, dict):
                return args, "invalid_json"
            args.update(parsed)
        else:
            args.update(parse_qsl(text, keep_blank_values=True))
    for name in _JSON_FIELDS:
        value = args.get(name)
        if isinstance(value, str):
            try:
                args[name] = json.loads(value) if value else None
            except json.JSONDecodeError:
                return args, _JSON_FIELD_ERRORS[name]
    return args, None
