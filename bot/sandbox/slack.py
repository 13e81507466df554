"""A local Slack Web API, served as an ASGI app: Slack's side in the sandbox and in tests.

The bot talks to it through slack_sdk's ``AsyncWebClient(base_url=".../api/")``, so every
Web API call arrives as ``POST /api/<method>`` (or ``GET`` for the read methods slack_sdk sends
as query strings), and ``respond()`` / ``AsyncWebhookClient`` posts arrive at
``POST /response/<n>``.

Design notes (why it looks the way it does):

* The fake answers the way Slack does: HTTP 200 with ``{"ok": false, "error": ...}`` for API
  errors, HTTP 429 + ``Retry-After`` for rate limits, bare HTML 5xx for outages. That keeps the
  bot's real error handling (and slack_sdk's retry handlers) on the tested path.
* State is kept per channel and keyed by ``ts`` so ``chat.update`` can be as strict as Slack:
  only messages this app posted, never ephemeral ones.
* The fake is often served by uvicorn in a background thread while the test thread reads it,
  so every piece of state is guarded by one ``threading.Lock`` and readers get copies.
  The lock is never held across an ``await``, so the fake also works in-process (e.g. through
  ``httpx.ASGITransport``) on the test's own event loop.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from bot.sandbox.slack_files import FileError, FileStore


class SocketModeServer(Protocol):
    """What a Socket Mode server (the tests' fake) offers this Web API."""

    @property
    def route(self) -> BaseRoute: ...

    def connections_open(self, token: str | None, base_url: str) -> dict[str, Any]: ...


__all__ = ["FakeSlack", "Message", "SlackCall"]

# Block Kit hard limits Slack enforces on the server side (reference §7).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT_CHARS = 40_000
# response_url accepts up to 5 posts (within 30 minutes); the fake enforces the count only.
DEFAULT_RESPONSE_URL_LIMIT = 5

# First ts handed out; each post adds 100 µs so the strings stay unique and sort correctly
# both as text and as numbers (which real Slack ts values also do).
_TS_BASE_MICROS = 1_700_000_000_000_100
_TS_STEP_MICROS = 100

# Fields Slack accepts as JSON text inside a form-encoded body.
_JSON_FIELDS = ("blocks", "attachments", "metadata", "view")
# What Slack answers when such a field is not valid JSON.
_JSON_FIELD_ERRORS = {
    "blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "metadata": "invalid_metadata_format",
    "view": "invalid_arguments",
}
_TRUE_STRINGS = frozenset({"1", "true", "True", "TRUE", "yes"})
# Methods that change nothing a page would show.
_READ_METHODS = frozenset(
    {"auth.test", "chat.getPermalink", "conversations.history", "conversations.replies"}
)


@dataclass(frozen=True)
class _ResponseContext:
    """Where a response URL's posts show: the request's channel and user."""

    channel: str
    user: str
    original_ts: str | None


@dataclass
class SlackCall:
    """One request the fake received, whatever its outcome."""

    method: str  # e.g. "chat.postMessage"; "response_url" for response-URL posts
    args: dict[str, Any]  # parsed body; blocks/attachments/metadata/view decoded
    at: float  # time.monotonic() when it arrived
    status: int = 200  # HTTP status the fake answered with
    error: str | None = None  # Slack error string when the answer was ok:false / a failure


@dataclass
class Message:
    """The fake's current view of one message (a snapshot when returned to tests)."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    reply_broadcast: bool
    metadata: dict[str, Any] | None
    user: str | None  # the target user for ephemeral messages, the author for seeded ones
    ephemeral: bool
    updates: int  # how many chat.update calls hit it
    attachments: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)  # shared with the message


@dataclass
class _Failure:
    status: int
    retry_after: int
    error: str | None


class _SlackError(Exception):
    """Raised inside handlers to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


_Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _truthy(value: Any) -> bool:
    # Form bodies carry booleans as "1"/"0" (slack_sdk converts them) or "true"/"false".
    if isinstance(value, str):
        return value in _TRUE_STRINGS
    return bool(value)


def _ts_value(ts: Any) -> Decimal:
    try:
        return Decimal(str(ts))
    except InvalidOperation as exc:
        raise _SlackError("invalid_ts_latest") from exc


def _collect_texts(node: Any, out: list[str]) -> None:
    # Block Kit nests text objects anywhere ({"type": "mrkdwn", "text": ...}, fields, ...).
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                out.append(value)
            else:
                _collect_texts(value, out)
    elif isinstance(node, list):
        for item in node:
            _collect_texts(item, out)


def _copy_message(message: Message) -> Message:
    return dataclasses.replace(
        message,
        blocks=copy.deepcopy(message.blocks),
        metadata=copy.deepcopy(message.metadata),
        attachments=copy.deepcopy(message.attachments),
        files=copy.deepcopy(message.files),
    )


class FakeSlack:
    """In-memory Slack workspace with a Web API front end (``self.app``)."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        team_id: str = "T0TEST",
        bot_user_id: str = "UBOT",
        bot_id: str = "B0TEST",
        app_id: str = "A0TEST",
        response_url_limit: int | None = DEFAULT_RESPONSE_URL_LIMIT,
        pace_seconds: float | None = None,
        socket_mode: SocketModeServer | None = None,
        real_time: bool = False,
        usergroups: list[dict[str, Any]] | None = None,
    ) -> None:
        """``pace_seconds``: like Slack, answer 429 to a chat.postMessage that comes sooner
        than this after the previous one in the same channel. ``socket_mode``: serve Socket
        Mode (``apps.connections.open`` and the websocket). ``real_time``: message ts values
        are the time of posting, as in Slack (the sandbox); otherwise a fixed sequence.
        ``usergroups``: the workspace's user groups (``id``, ``handle``, ``name``, ``users``)."""
        self._usergroups = copy.deepcopy(usergroups or [])
        self._direct: dict[str, str] = {}  # user -> the app's DM channel with them
        self.real_time = real_time
        self._last_ts_micros = 0
        self.bot_token = bot_token
        self.pace_seconds = pace_seconds
        self.socket_mode = socket_mode
        self.pacing_refusals = 0
        self._last_post: dict[str, float] = {}
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.response_url_limit = response_url_limit

        self._lock = threading.Lock()
        self._calls: list[SlackCall] = []
        # channel -> ts -> message; ts order is recovered by sorting (ts values are unique).
        self._messages: dict[str, dict[str, Message]] = {}
        self._responses: list[dict[str, Any]] = []
        self._response_counts: dict[int, int] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._home_views: dict[str, str] = {}  # user_id -> App Home view_id
        self._failures: dict[str, deque[_Failure]] = {}
        self._late: dict[str, deque[float]] = {}
        self._not_in_channel: set[str] = set()
        self._ts_counter = 0
        self.version = 0  # bumped on every change a page would show
        self._listeners: list[Callable[[], None]] = []
        self._trigger_users: dict[str, str] = {}
        self._response_contexts: dict[int, _ResponseContext] = {}
        self._view_counter = 0
        self._hash_counter = 0
        self._response_counter = 0
        self._files = FileStore()
        self._base_url = "http://slack.invalid/"  # the last request's; upload URLs use it

        self._handlers: dict[str, _Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.join": self._conversations_join,
            "conversations.open": self._conversations_open,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }
        routes: list[Any] = [
            Route("/api/{method}", self._api_endpoint, methods=["GET", "POST"]),
            Route("/response/{response_id:int}", self._response_endpoint, methods=["POST"]),
            Route("/upload/{file_id}", self._upload_endpoint, methods=["POST"]),
            Route("/files/{file_id}", self._file_endpoint, methods=["GET"]),
        ]
        if socket_mode is not None:
            routes.append(socket_mode.route)
        self.app: ASGIApp = Starlette(routes=routes)

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

    def messages(self, channel: str, *, include_replies: bool = True) -> list[Message]:
        """Current messages of ``channel`` in ts order, ephemeral ones included.

        With ``include_replies=False`` only what shows in the channel itself is returned:
        top-level messages plus replies posted with ``reply_broadcast``.
        """
        with self._lock:
            stored = self._sorted(channel)
            if not include_replies:
                stored = [m for m in stored if m.thread_ts is None or m.reply_broadcast]
            return [_copy_message(m) for m in stored]

    def file_bytes(self, file_id: str) -> bytes | None:
        """What was uploaded as ``file_id`` (None if nothing was)."""
        with self._lock:
            stored = self._files.get(file_id)
            return stored.data if stored is not None else None

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Replies (not the parent) whose ``thread_ts`` is ``thread_ts``, in ts order."""
        with self._lock:
            return [
                _copy_message(m)
                for m in self._sorted(channel)
                if m.thread_ts == thread_ts and m.ts != thread_ts
            ]

    def find(
        self, *, channel: str | None = None, text_contains: str | None = None
    ) -> list[Message]:
        """Messages whose text, or any text inside their blocks, contains ``text_contains``."""
        with self._lock:
            channels = [channel] if channel is not None else sorted(self._messages)
            found: list[Message] = []
            for ch in channels:
                for message in self._sorted(ch):
                    if text_contains is None or text_contains in self._searchable(message):
                        found.append(_copy_message(message))
            return found

    def post_user_message(
        self, channel: str, text: str, *, user: str = "U123", thread_ts: str | None = None
    ) -> Message:
        """Seed a message written by a human, e.g. a thread the bot should reply into."""
        with self._lock:
            message = Message(
                channel=channel,
                ts=self._next_ts(),
                text=text,
                blocks=[],
                thread_ts=thread_ts,
                reply_broadcast=False,
                metadata=None,
                user=user,
                ephemeral=False,
                updates=0,
            )
            self._messages.setdefault(channel, {})[message.ts] = message
            copied = _copy_message(message)
        self._changed()
        return copied

    @property
    def responses(self) -> list[dict[str, Any]]:
        """Bodies POSTed to response URLs (accepted ones), in order, with ``_response_id``."""
        with self._lock:
            return copy.deepcopy(self._responses)

    def response_url(
        self,
        base_url: str,
        *,
        channel: str | None = None,
        user: str | None = None,
        original_ts: str | None = None,
    ) -> str:
        """A fresh response URL served by this fake (``base_url`` is the server's URL).

        Given the ``channel`` and ``user`` of the request it answers (and the ``original_ts``
        of the clicked message), posts to it show as Slack shows them: ephemeral replies to
        that user, ``in_channel`` ones as messages, ``replace_original`` and
        ``delete_original`` on the original message.
        """
        with self._lock:
            self._response_counter += 1
            n = self._response_counter
            if channel is not None and user is not None:
                self._response_contexts[n] = _ResponseContext(channel, user, original_ts)
        return f"{base_url.rstrip('/')}/response/{n}"

    def register_trigger(self, trigger_id: str, user: str) -> None:
        """A trigger_id handed to the app with an interaction of ``user``: views it opens
        belong to that user."""
        with self._lock:
            self._trigger_users[trigger_id] = user

    def open_views(self, user: str) -> list[dict[str, Any]]:
        """The modals open for ``user``, oldest first (the last one is on top)."""
        with self._lock:
            return [
                copy.deepcopy(v)
                for v in self._views.values()
                if v.get("user") == user and v["type"] == "modal" and not v.get("closed")
            ]

    def home_view(self, user: str) -> dict[str, Any] | None:
        with self._lock:
            view_id = self._home_views.get(user)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def close_view(self, view_id: str, *, all_of_stack: bool = False) -> None:
        """The user closed a modal (or the app answered ``response_action: clear``)."""
        with self._lock:
            view = self._views.get(view_id)
            if view is None:
                return
            closing = [view]
            if all_of_stack:
                root = view.get("root_view_id")
                closing = [v for v in self._views.values() if v.get("root_view_id") == root]
            for each in closing:
                each["closed"] = True
        self._changed()

    def set_view_state(self, view_id: str, values: dict[str, Any]) -> None:
        """What the user typed and picked in a view (``state.values``), as Slack keeps it."""
        with self._lock:
            view = self._views.get(view_id)
            if view is not None:
                view["state"] = {"values": copy.deepcopy(values)}

    def message_json(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message as an interaction payload carries it (``_ephemeral`` marks those)."""
        with self._lock:
            message = self._get(channel, ts)
            if message is None:
                return None
            out = self._message_json(message, with_metadata=False)
            if message.ephemeral:
                out.update(user=self.bot_user_id, bot_id=self.bot_id, _ephemeral=True)
            return out

    def visible(self, channel: str, user: str) -> list[dict[str, Any]]:
        """What ``user`` sees of ``channel``: every message and reply (ephemeral ones only if
        they are for ``user``), in ts order, as the sandbox page draws them."""
        with self._lock:
            shown = [m for m in self._sorted(channel) if not m.ephemeral or m.user == user]
            return [
                {
                    "ts": m.ts,
                    "text": m.text,
                    "blocks": copy.deepcopy(m.blocks),
                    "thread_ts": m.thread_ts,
                    "broadcast": m.reply_broadcast,
                    "ephemeral": m.ephemeral,
                    "author": None if m.ephemeral or m.user is None else m.user,
                    "edited": m.updates > 0,
                    "files": [
                        {"id": f["id"], "name": f["name"], "title": f["title"]} for f in m.files
                    ],
                }
                for m in shown
            ]

    def show_ephemeral(self, *, channel: str, user: str, message: dict[str, Any]) -> None:
        """An ephemeral message from the app (e.g. a command's acknowledgement text)."""
        blocks = message.get("blocks")
        with self._lock:
            stored = Message(
                channel=channel,
                ts=self._next_ts(),
                text=str(message.get("text") or ""),
                blocks=list(blocks) if isinstance(blocks, list) else [],
                thread_ts=None,
                reply_broadcast=False,
                metadata=None,
                user=user,
                ephemeral=True,
                updates=0,
            )
            self._messages.setdefault(channel, {})[stored.ts] = stored
        self._changed()

    def replace_view(self, view_id: str, view: dict[str, Any]) -> None:
        """``response_action: update``: the view is replaced in place."""
        with self._lock:
            current = self._views.get(view_id)
            if current is None:
                return
            stored = self._store_view(view, view_id=view_id, previous=current)
            self._owned(stored, current.get("user"))
        self._changed()

    def push_view(self, view: dict[str, Any], *, user: str, over: str) -> None:
        """``response_action: push``: a new view on top of ``over``."""
        with self._lock:
            below = self._views.get(over)
            stored = self._store_view(view, view_id=None, previous=None)
            if below is not None:
                self._views[stored["id"]]["root_view_id"] = below.get("root_view_id", over)
                self._views[stored["id"]]["previous_view_id"] = over
            self._owned(stored, user)
        self._changed()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Called (from whatever thread made the change) after each change."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _changed(self) -> None:
        with self._lock:
            self.version += 1
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def responses_for(self, response_url: str) -> list[dict[str, Any]]:
        match = re.search(r"/response/(\d+)/?$", urlsplit(response_url).path)
        if match is None:
            raise ValueError(f"not a response URL of this fake: {response_url!r}")
        wanted = int(match.group(1))
        with self._lock:
            return [copy.deepcopy(r) for r in self._responses if r["_response_id"] == wanted]

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """view_id -> latest version of that view (views.open/update/push/publish)."""
        with self._lock:
            return copy.deepcopy(self._views)

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

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
                queue.append(_Failure(status=status, retry_after=retry_after, error=error))

    def answer_late(self, method: str, *, seconds: float, times: int = 1) -> None:
        """Process the next ``times`` calls of ``method`` at once but answer ``seconds`` later.

        Slack has the message while the caller still waits: a caller that dies meanwhile
        never learns that its post went through.
        """
        with self._lock:
            queue = self._late.setdefault(method, deque())
            for _ in range(times):
                queue.append(seconds)

    def not_in_channel(self, channel: str) -> None:
        """The bot is not a member of ``channel`` until it calls ``conversations.join``.

        Until then chat.postMessage, chat.postEphemeral, conversations.history and
        conversations.replies in it answer ``not_in_channel``, as Slack does.
        """
        with self._lock:
            self._not_in_channel.add(channel)

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
            failure = self._pop_failure(method) or self._over_pace(method, args, arrived)
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
            except _SlackError as exc:
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

    async def _response_endpoint(self, request: Request) -> Response:
        response_id: int = request.path_params["response_id"]
        arrived = time.monotonic()
        body = await request.body()
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError:
            # Slack also accepts form posts with a JSON ``payload`` field.
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
            payload = json.loads(form.get("payload", "{}"))
        if not isinstance(payload, dict):
            payload = {"_raw": payload}
        payload["_response_id"] = response_id

        with self._lock:
            call = SlackCall(method="response_url", args=payload, at=arrived)
            self._calls.append(call)
            failure = self._pop_failure("response_url")
            if failure is not None:
                call.status = failure.status
                call.error = failure.error or "failed"
                return PlainTextResponse(call.error, status_code=failure.status)
            count = self._response_counts.get(response_id, 0)
            if self.response_url_limit is not None and count >= self.response_url_limit:
                call.status, call.error = 404, "used_url"
                return PlainTextResponse("used_url", status_code=404)
            self._response_counts[response_id] = count + 1
            self._responses.append(copy.deepcopy(payload))
            context = self._response_contexts.get(response_id)
            if context is not None:
                self._show_response(context, payload)
        self._changed()
        return PlainTextResponse("ok")

    def _show_response(self, context: _ResponseContext, payload: dict[str, Any]) -> None:
        """A response_url post, drawn where Slack draws it (the lock is held)."""
        original = self._get(context.channel, context.original_ts) if context.original_ts else None
        if _truthy(payload.get("delete_original")):
            if original is not None:
                del self._messages[context.channel][original.ts]
            return
        text = str(payload.get("text") or "")
        blocks = payload.get("blocks")
        blocks = list(blocks) if isinstance(blocks, list) else []
        if _truthy(payload.get("replace_original")) and original is not None:
            original.text, original.blocks = text, blocks
            original.updates += 1
            return
        in_channel = payload.get("response_type") == "in_channel"
        thread_ts = payload.get("thread_ts")
        message = Message(
            channel=context.channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=str(thread_ts) if thread_ts else None,
            reply_broadcast=False,
            metadata=None,
            user=None if in_channel else context.user,
            ephemeral=not in_channel,
            updates=0,
        )
        self._messages.setdefault(context.channel, {})[message.ts] = message

    def _over_pace(self, method: str, args: dict[str, Any], arrived: float) -> _Failure | None:
        """Slack's pacing: about one message per second per channel, 429 beyond it."""
        if method != "chat.postMessage" or not self.pace_seconds:
            return None
        channel = str(args.get("channel") or "")
        last = self._last_post.get(channel)
        if last is not None and arrived - last < self.pace_seconds:
            self.pacing_refusals += 1
            return _Failure(status=429, retry_after=1, error=None)
        self._last_post[channel] = arrived
        return None

    def _pop_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        return queue.popleft() if queue else None

    @staticmethod
    def _answer_error(call: SlackCall, error: str) -> Response:
        call.error = error
        return JSONResponse({"ok": False, "error": error})

    @staticmethod
    def _answer_failure(call: SlackCall, failure: _Failure) -> Response:
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

    # ------------------------------------------------------------------ state helpers
    # All helpers below run with self._lock held.

    def _next_ts(self) -> str:
        micros = _TS_BASE_MICROS + self._ts_counter * _TS_STEP_MICROS
        if self.real_time:
            micros = max(int(time.time() * 1_000_000), self._last_ts_micros + _TS_STEP_MICROS)
            self._last_ts_micros = micros
        self._ts_counter += 1
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_hash(self) -> str:
        self._hash_counter += 1
        return f"{1_700_000_000 + self._hash_counter}.fakehash{self._hash_counter:04d}"

    def _sorted(self, channel: str) -> list[Message]:
        return sorted(self._messages.get(channel, {}).values(), key=lambda m: _ts_value(m.ts))

    def _get(self, channel: str, ts: str) -> Message | None:
        return self._messages.get(channel, {}).get(ts)

    @staticmethod
    def _searchable(message: Message) -> str:
        texts = [message.text]
        _collect_texts(message.blocks, texts)
        _collect_texts(message.attachments, texts)
        return "\n".join(texts)

    def _require_member(self, channel: str) -> None:
        if channel in self._not_in_channel:
            raise _SlackError("not_in_channel")

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

    def _message_json(self, message: Message, *, with_metadata: bool) -> dict[str, Any]:
        """A message as conversations.history / replies / postMessage show it."""
        out: dict[str, Any] = {"type": "message", "ts": message.ts, "text": message.text}
        if message.user is not None:
            out["user"] = message.user
        else:
            out.update(user=self.bot_user_id, bot_id=self.bot_id, app_id=self.app_id)
        out["team"] = self.team_id
        if message.blocks:
            out["blocks"] = copy.deepcopy(message.blocks)
        if message.attachments:
            out["attachments"] = copy.deepcopy(message.attachments)
        if message.files:
            out["files"] = copy.deepcopy(message.files)
        replies = [
            m
            for m in self._messages.get(message.channel, {}).values()
            if m.thread_ts == message.ts and m.ts != message.ts and not m.ephemeral
        ]
        if message.thread_ts is not None:
            out["thread_ts"] = message.thread_ts
            parent = self._get(message.channel, message.thread_ts)
            if parent is not None:
                out["parent_user_id"] = parent.user or self.bot_user_id
            if message.reply_broadcast:
                out["subtype"] = "thread_broadcast"
        elif replies:
            out["thread_ts"] = message.ts
            out["reply_count"] = len(replies)
            out["latest_reply"] = max((m.ts for m in replies), key=_ts_value)
        if message.updates:
            out["edited"] = {"user": self.bot_user_id, "ts": message.ts}
        if with_metadata and message.metadata is not None:
            out["metadata"] = copy.deepcopy(message.metadata)
        return out

    @staticmethod
    def _check_content(args: dict[str, Any], *, require_content: bool) -> None:
        blocks = args.get("blocks")
        if blocks is not None:
            if not isinstance(blocks, list) or not all(
                isinstance(b, dict) and "type" in b for b in blocks
            ):
                raise _SlackError("invalid_blocks")
            if len(blocks) > MAX_MESSAGE_BLOCKS:
                raise _SlackError("invalid_blocks")
        attachments = args.get("attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise _SlackError("invalid_attachments")
        text = args.get("text")
        if text is not None and len(str(text)) > MAX_TEXT_CHARS:
            raise _SlackError("msg_too_long")
        metadata = args.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict) or "event_type" not in metadata
        ):
            raise _SlackError("invalid_metadata_format")
        if require_content and not (text or blocks or attachments):
            raise _SlackError("no_text")

    @staticmethod
    def _require(args: dict[str, Any], name: str, error: str = "invalid_arguments") -> str:
        value = args.get(name)
        if value is None or value == "":
            raise _SlackError(error)
        return str(value)

    # ------------------------------------------------------------------ Web API methods

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "aicore-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        self._require_member(channel)
        self._check_content(args, require_content=True)
        thread_ts = args.get("thread_ts") or None
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=str(args.get("text") or ""),
            blocks=list(args.get("blocks") or []),
            thread_ts=str(thread_ts) if thread_ts is not None else None,
            # Slack ignores reply_broadcast outside a thread.
            reply_broadcast=thread_ts is not None and _truthy(args.get("reply_broadcast")),
            metadata=args.get("metadata"),
            user=None,
            ephemeral=False,
            updates=0,
            attachments=list(args.get("attachments") or []),
        )
        self._messages.setdefault(channel, {})[message.ts] = message
        return {
            "channel": channel,
            "ts": message.ts,
            "message": self._message_json(message, with_metadata=True),
        }

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        ts = self._require(args, "ts", "message_not_found")
        message = self._get(channel, ts)
        if message is None:
            raise _SlackError("message_not_found")
        if message.ephemeral or message.user is not None:
            # Ephemeral messages and messages by others can't be edited by this app.
            raise _SlackError("cant_update_message")
        self._check_content(args, require_content=False)
        # Slack keeps what is omitted: only fields present in the call are replaced
        # (so blocks=[] clears the blocks but no "blocks" key leaves them alone).
        if "text" in args:
            message.text = str(args["text"] or "")
        if "blocks" in args:
            message.blocks = list(args["blocks"] or [])
        if "attachments" in args:
            message.attachments = list(args["attachments"] or [])
        if "metadata" in args:
            message.metadata = args["metadata"]
        message.updates += 1
        return {
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "message": self._message_json(message, with_metadata=True),
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        user = self._require(args, "user", "user_not_found")
        self._require_member(channel)
        self._check_content(args, require_content=True)
        thread_ts = args.get("thread_ts") or None
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=str(args.get("text") or ""),
            blocks=list(args.get("blocks") or []),
            thread_ts=str(thread_ts) if thread_ts is not None else None,
            reply_broadcast=False,
            metadata=None,
            user=user,
            ephemeral=True,
            updates=0,
            attachments=list(args.get("attachments") or []),
        )
        self._messages.setdefault(channel, {})[message.ts] = message
        return {"message_ts": message.ts}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        ts = self._require(args, "ts", "message_not_found")
        message = self._get(channel, ts)
        if message is None or message.ephemeral:
            # Ephemeral messages don't exist server side; only response_url can remove them.
            raise _SlackError("message_not_found")
        if message.user is not None:
            raise _SlackError("cant_delete_message")
        del self._messages[channel][ts]
        return {"channel": channel, "ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        ts = self._require(args, "message_ts", "message_not_found")
        message = self._get(channel, ts)
        if message is None or message.ephemeral:
            raise _SlackError("message_not_found")
        permalink = f"https://fake-workspace.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        if message.thread_ts is not None:
            permalink += f"?thread_ts={message.thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": permalink}

    def _store_view(
        self, view: Any, *, view_id: str | None, previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        if not isinstance(view, dict) or "type" not in view:
            raise _SlackError("invalid_arguments")
        blocks = view.get("blocks", [])
        if not isinstance(blocks, list) or len(blocks) > MAX_VIEW_BLOCKS:
            raise _SlackError("invalid_arguments")
        if view_id is None:
            self._view_counter += 1
            view_id = f"V{self._view_counter:010d}"
        stored: dict[str, Any] = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": blocks,
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": self._next_hash(),
            "title": view.get("title"),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "external_id": view.get("external_id", ""),
            "root_view_id": (previous or {}).get("root_view_id", view_id),
            "previous_view_id": (previous or {}).get("previous_view_id"),
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }
        self._views[view_id] = stored
        return copy.deepcopy(stored)

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger_id = self._require(args, "trigger_id")
        view = self._store_view(args.get("view"), view_id=None, previous=None)
        return {"view": self._owned(view, self._trigger_users.get(trigger_id))}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger_id = self._require(args, "trigger_id")
        view = self._store_view(args.get("view"), view_id=None, previous=None)
        return {"view": self._owned(view, self._trigger_users.get(trigger_id))}

    def _owned(self, view: dict[str, Any], user: str | None) -> dict[str, Any]:
        if user is not None:
            self._views[view["id"]]["user"] = user
            view["user"] = user
        return view

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = self._require(args, "user_id", "user_not_found")
        # App Home: one view per user, republished in place.
        view = self._store_view(
            args.get("view"), view_id=self._home_views.get(user_id), previous=None
        )
        self._home_views[user_id] = view["id"]
        return {"view": self._owned(view, user_id)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id") or None
        external_id = args.get("external_id") or None
        if view_id is None and external_id is not None:
            view_id = next(
                (vid for vid, v in self._views.items() if v.get("external_id") == external_id),
                None,
            )
            if view_id is None:
                raise _SlackError("not_found")
        if view_id is None:
            raise _SlackError("invalid_arguments")
        current = self._views.get(str(view_id))
        if current is None:
            raise _SlackError("not_found")
        # Slack's optimistic locking: a stale hash means someone else updated the view.
        if args.get("hash") and args["hash"] != current["hash"]:
            raise _SlackError("hash_conflict")
        view = self._store_view(args.get("view"), view_id=str(view_id), previous=current)
        return {"view": self._owned(view, current.get("user"))}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise _SlackError("users_list_not_supplied" if not users else "not_supported")
        channel = self._direct.setdefault(users[0], f"D{len(self._direct) + 1:09d}")
        return {"channel": {"id": channel, "is_im": True, "user": users[0]}}

    def direct_channel(self, user: str) -> str | None:
        """The app's DM channel with ``user``, once ``conversations.open`` made it."""
        with self._lock:
            return self._direct.get(user)

    def _usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        with_users = _truthy(args.get("include_users"))
        groups = []
        for group in self._usergroups:
            shown = {
                "id": group["id"],
                "team_id": self.team_id,
                "handle": group["handle"],
                "name": group.get("name", group["handle"]),
                "user_count": len(group.get("users", [])),
            }
            if with_users:
                shown["users"] = list(group.get("users", []))
            groups.append(shown)
        return {"usergroups": groups}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        wanted = self._require(args, "usergroup", "no_such_subteam")
        group = next((g for g in self._usergroups if g["id"] == wanted), None)
        if group is None:
            raise _SlackError("no_such_subteam")
        return {"users": list(group.get("users", []))}

    def _history_window(
        self, args: dict[str, Any], messages: list[Message]
    ) -> tuple[list[Message], bool, str]:
        """Apply oldest/latest/inclusive/limit/cursor the way conversations.* do."""
        oldest = _ts_value(args.get("oldest") or "0")
        latest_arg = args.get("latest")
        latest = _ts_value(latest_arg) if latest_arg else None
        inclusive = _truthy(args.get("inclusive", False))

        def in_window(m: Message) -> bool:
            ts = _ts_value(m.ts)
            above = ts >= oldest if inclusive else ts > oldest
            below = latest is None or (ts <= latest if inclusive else ts < latest)
            return above and below

        window = [m for m in messages if in_window(m)]
        try:
            limit = max(1, min(int(args.get("limit") or 100), 999))
            offset = int(str(args.get("cursor") or "offset:0").removeprefix("offset:"))
        except ValueError as exc:
            raise _SlackError("invalid_cursor") from exc
        page = window[offset : offset + limit]
        has_more = offset + limit < len(window)
        return page, has_more, f"offset:{offset + limit}" if has_more else ""

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        self._require_member(channel)
        visible = [
            m
            for m in self._sorted(channel)
            if not m.ephemeral and (m.thread_ts is None or m.reply_broadcast)
        ]
        visible.reverse()  # conversations.history is newest first
        page, has_more, cursor = self._history_window(args, visible)
        with_metadata = _truthy(args.get("include_all_metadata", False))
        return {
            "messages": [self._message_json(m, with_metadata=with_metadata) for m in page],
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        ts = self._require(args, "ts", "thread_not_found")
        self._require_member(channel)
        root = self._get(channel, ts)
        if root is None or root.ephemeral:
            raise _SlackError("thread_not_found")
        if root.thread_ts is not None and root.thread_ts != ts:
            # Asking with a reply's ts yields just that reply, as on Slack.
            thread = [root]
        else:
            thread = [root] + [
                m
                for m in self._sorted(channel)
                if m.thread_ts == ts and m.ts != ts and not m.ephemeral
            ]
        page, has_more, cursor = self._history_window(args, thread)
        with_metadata = _truthy(args.get("include_all_metadata", False))
        return {
            "messages": [self._message_json(m, with_metadata=with_metadata) for m in page],
            "has_more": has_more,
            "response_metadata": {"next_cursor": cursor},
        }

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._files.get_upload_url(args, self._base_url)
        except FileError as exc:
            raise _SlackError(exc.error) from None

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel_id") or args.get("channels")
        try:
            files = self._files.complete(args)
        except FileError as exc:
            raise _SlackError(exc.error) from None
        if not channel:
            # Slack keeps unshared files private to the uploader; nothing shows anywhere.
            return {"files": [{"id": f.id, "title": f.title} for f in files]}
        channel = str(channel)
        self._require_member(channel)
        thread_ts = args.get("thread_ts") or None
        if thread_ts is not None and self._get(channel, str(thread_ts)) is None:
            raise _SlackError("thread_not_found")
        self._files.share(files, channel, str(thread_ts) if thread_ts else None)
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=str(args.get("initial_comment") or ""),
            blocks=[],
            thread_ts=str(thread_ts) if thread_ts else None,
            reply_broadcast=False,
            metadata=None,
            user=None,
            ephemeral=False,
            updates=0,
            files=[f.shown(self._base_url) for f in files],
        )
        self._messages.setdefault(channel, {})[message.ts] = message
        return {"files": [{"id": f.id, "title": f.title} for f in files]}

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._require(args, "channel", "channel_not_found")
        already = channel not in self._not_in_channel
        self._not_in_channel.discard(channel)
        result: dict[str, Any] = {
            "channel": {"id": channel, "name": channel, "is_channel": True, "is_member": True}
        }
        if already:
            result["warning"] = "already_in_channel"
        return result


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
