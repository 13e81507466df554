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

The fake is put together from one module per concern, each a mixin on the shared state
(:mod:`bot.sandbox.slack_state`): the recorded data types (:mod:`bot.sandbox.slack_records`),
the Web API methods on messages (:mod:`bot.sandbox.slack_messages`) and what tests and the
page read of the channels (:mod:`bot.sandbox.slack_channels`), views
(:mod:`bot.sandbox.slack_views`), the directory (:mod:`bot.sandbox.slack_directory`),
response URLs (:mod:`bot.sandbox.slack_responses`), the files store
(:mod:`bot.sandbox.slack_files`) and the HTTP front end (:mod:`bot.sandbox.slack_http`).
This module assembles them into :class:`FakeSlack`.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp

from bot.sandbox.slack_channels import ChannelReads
from bot.sandbox.slack_directory import DirectoryMethods
from bot.sandbox.slack_files import FileStore
from bot.sandbox.slack_http import HttpFrontEnd
from bot.sandbox.slack_http import SocketModeServer as SocketModeServer
from bot.sandbox.slack_messages import MAX_MESSAGE_BLOCKS as MAX_MESSAGE_BLOCKS
from bot.sandbox.slack_messages import MAX_TEXT_CHARS as MAX_TEXT_CHARS
from bot.sandbox.slack_messages import MessageMethods
from bot.sandbox.slack_records import Message, SlackCall
from bot.sandbox.slack_responses import DEFAULT_RESPONSE_URL_LIMIT as DEFAULT_RESPONSE_URL_LIMIT
from bot.sandbox.slack_responses import ResponseUrls
from bot.sandbox.slack_views import MAX_VIEW_BLOCKS as MAX_VIEW_BLOCKS
from bot.sandbox.slack_views import ViewMethods

__all__ = ["FakeSlack", "Message", "SlackCall"]


class FakeSlack(
    ChannelReads, MessageMethods, ViewMethods, DirectoryMethods, ResponseUrls, HttpFrontEnd
):
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
        self._direct = {}  # user -> the app's DM channel with them
        self.real_time = real_time
        self._last_ts_micros = 0
        self.bot_token = bot_token
        self.pace_seconds = pace_seconds
        self.socket_mode = socket_mode
        self.pacing_refusals = 0
        self._last_post = {}
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.response_url_limit = response_url_limit

        self._lock = threading.Lock()
        self._calls = []
        # channel -> ts -> message; ts order is recovered by sorting (ts values are unique).
        self._messages = {}
        self._responses = []
        self._response_counts = {}
        self._views = {}
        self._home_views = {}  # user_id -> App Home view_id
        self._failures = {}
        self._late = {}
        self._not_in_channel = set()
        self._ts_counter = 0
        self.version = 0  # bumped on every change a page would show
        self._listeners = []
        self._trigger_users = {}
        self._response_contexts = {}
        self._view_counter = 0
        self._hash_counter = 0
        self._response_counter = 0
        self._files = FileStore()
        self._base_url = "http://slack.invalid/"  # the last request's; upload URLs use it

        self._handlers = {
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
