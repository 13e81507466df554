"""Response URLs in the local Slack (:mod:`bot.sandbox.slack`).

:meth:`~ResponseUrls.response_url` hands out a URL for an interaction or command; the app's
posts to it (``POST /response/<n>``) are recorded, limited to Slack's count, and drawn
where Slack draws them: ephemeral replies to the user, ``in_channel`` ones as messages,
``replace_original`` and ``delete_original`` on the clicked message.
"""

from __future__ import annotations

import copy
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.sandbox.slack_records import Message, SlackCall, truthy
from bot.sandbox.slack_state import SlackState

# response_url accepts up to 5 posts (within 30 minutes); the fake enforces the count only.
DEFAULT_RESPONSE_URL_LIMIT = 5


@dataclass(frozen=True)
class _ResponseContext:
    """Where a response URL's posts show: the request's channel and user."""

    channel: str
    user: str
    original_ts: str | None


class ResponseUrls(SlackState):
    """Response URLs, their endpoint and their posts (for FakeSlack)."""

    response_url_limit: int | None  # posts accepted per URL; None for no limit
    _responses: list[dict[str, Any]]  # accepted posts, in order, with ``_response_id``
    _response_counts: dict[int, int]  # response id -> posts accepted
    _response_contexts: dict[int, _ResponseContext]
    _response_counter: int

    # ------------------------------------------------------------------ test-facing API

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

    def responses_for(self, response_url: str) -> list[dict[str, Any]]:
        match = re.search(r"/response/(\d+)/?$", urlsplit(response_url).path)
        if match is None:
            raise ValueError(f"not a response URL of this fake: {response_url!r}")
        wanted = int(match.group(1))
        with self._lock:
            return [copy.deepcopy(r) for r in self._responses if r["_response_id"] == wanted]

    # ------------------------------------------------------------------ HTTP layer

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
        if truthy(payload.get("delete_original")):
            if original is not None:
                del self._messages[context.channel][original.ts]
            return
        text = str(payload.get("text") or "")
        blocks = payload.get("blocks")
        blocks = list(blocks) if isinstance(blocks, list) else []
        if truthy(payload.get("replace_original")) and original is not None:
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
