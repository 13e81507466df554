"""Slack's side of the sandbox: the page's commands and clicks, sent to the bot as Slack sends them.

Each interaction becomes the request Slack would make: a form-encoded slash command, a
``payload`` of ``block_actions``, ``block_suggestion``, ``view_submission`` or ``view_closed``,
or the Events API's ``app_home_opened`` (JSON), with a fresh
``response_url`` and ``trigger_id``, signed with the sandbox's signing secret
(``X-Slack-Signature``, ``X-Slack-Request-Timestamp``) and POSTed to the bot's
``/slack/events``. The bot verifies it like any other request.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.sandbox.slack import FakeSlack

TEAM_ID = "T0SANDBOX"
TEAM_DOMAIN = "sandbox"
APP_ID = "A0SANDBOX"
BOT_USER_ID = "U0SANDBOTX"
VERIFICATION_TOKEN = "sandbox-verification-token"  # deprecated by Slack; sent, never checked


@dataclass(frozen=True)
class User:
    id: str
    name: str
    title: str


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    topic: str


USERS = (
    User("U0SANDBOX1", "alice", "data scientist"),
    User("U0SANDBOX2", "bob", "ML platform team"),
    User("U0SANDBOX3", "carol", "guest"),
)
# User groups, as usergroups.list and usergroups.users.list answer them (for the access policy).
USERGROUPS = (
    {"id": "S0SANDBOX1", "handle": "ml-platform", "name": "ML platform", "users": ["U0SANDBOX2"]},
    {
        "id": "S0SANDBOX2",
        "handle": "data-science",
        "name": "Data science",
        "users": ["U0SANDBOX1", "U0SANDBOX2"],
    },
)
CHANNELS = (
    Channel("C0SANDBOX1", "ml-training", "Training runs of the team"),
    Channel("C0SANDBOX2", "alerts", "Where runs that die are told"),
)


@dataclass(frozen=True)
class Answer:
    """What the bot's endpoint answered, for the page."""

    status: int
    body: Any = None
    errors: dict[str, str] | None = None


class Workspace:
    """Sends interactions to the bot (``events_url``) and draws what comes back in ``slack``."""

    def __init__(
        self,
        slack: FakeSlack,
        *,
        events_url: str,
        slack_base_url: str,
        signing_secret: str,
        http: httpx.AsyncClient,
    ) -> None:
        self.slack = slack
        self.events_url = events_url
        self.slack_base_url = slack_base_url
        self._verifier = SignatureVerifier(signing_secret)
        self._http = http

    # -- what the page can do ----------------------------------------------------------------

    async def command(self, *, user: str, channel: str, text: str) -> Answer:
        """``/aicore start demo-train`` typed in ``channel`` by ``user``."""
        command, _, rest = text.strip().partition(" ")
        form = {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel,
            "channel_name": _channel_name(channel),
            "user_id": user,
            "user_name": _user_name(user),
            "command": command,
            "text": rest.strip(),
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.slack.response_url(
                self.slack_base_url, channel=channel, user=user
            ),
            "trigger_id": self._trigger(user),
        }
        answer = await self._send(urlencode(form))
        self._show_ack(answer, channel=channel, user=user)
        return answer

    async def click(
        self,
        *,
        user: str,
        action: dict[str, Any],
        channel: str | None = None,
        message_ts: str | None = None,
        view_id: str | None = None,
    ) -> Answer:
        """A button pressed or an option picked, in a message or in a view."""
        payload = {
            **_interaction("block_actions", user),
            "trigger_id": self._trigger(user),
            "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
        }
        if view_id is not None:
            view = self.slack.views.get(view_id)
            if view is None:
                return Answer(404, {"error": "no such view"})
            payload["container"] = {"type": "view", "view_id": view_id}
            payload["view"] = view
        else:
            if channel is None or message_ts is None:
                return Answer(400, {"error": "a click needs a message or a view"})
            message = self.slack.message_json(channel, message_ts)
            if message is None:
                return Answer(404, {"error": "no such message"})
            ephemeral = bool(message.get("_ephemeral"))
            payload["container"] = {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": ephemeral,
            }
            payload["channel"] = {"id": channel, "name": _channel_name(channel)}
            payload["message"] = {k: v for k, v in message.items() if not k.startswith("_")}
            payload["state"] = {"values": {}}
            payload["response_url"] = self.slack.response_url(
                self.slack_base_url, channel=channel, user=user, original_ts=message_ts
            )
        return await self._send(urlencode({"payload": json.dumps(payload)}))

    async def submit(self, *, user: str, view_id: str, values: dict[str, Any]) -> Answer:
        """The modal's submit button, with what the user typed and picked."""
        view = self.slack.views.get(view_id)
        if view is None:
            return Answer(404, {"error": "no such view"})
        self.slack.set_view_state(view_id, values)
        view["state"] = {"values": values}
        payload = {
            **_interaction("view_submission", user),
            "trigger_id": self._trigger(user),
            "view": view,
            "response_urls": [],
        }
        answer = await self._send(urlencode({"payload": json.dumps(payload)}))
        return self._after_submission(answer, view_id=view_id, user=user)

    async def suggest(
        self,
        *,
        user: str,
        view_id: str,
        action_id: str,
        block_id: str,
        value: str,
        values: dict[str, Any],
    ) -> Answer:
        """Typing in an external select: a ``block_suggestion``; the bot's answer is the
        options (at most 100), as Slack shows them."""
        view = self.slack.views.get(view_id)
        if view is None:
            return Answer(404, {"error": "no such view"})
        view["state"] = {"values": values}
        payload = {
            **_interaction("block_suggestion", user),
            "container": {"type": "view", "view_id": view_id},
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "view": view,
        }
        return await self._send(urlencode({"payload": json.dumps(payload)}))

    async def open_home(self, *, user: str) -> Answer:
        """The user opened the app's Home tab: the Events API's ``app_home_opened``."""
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "type": "event_callback",
            "event_id": f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": self.slack.direct_channel(user) or "D0SANDBOX",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
        }
        return await self._send(json.dumps(envelope), content_type="application/json")

    async def close(self, *, user: str, view_id: str) -> Answer:
        view = self.slack.views.get(view_id)
        if view is None:
            return Answer(404, {"error": "no such view"})
        answer = Answer(200)
        if view.get("notify_on_close"):
            payload = {**_interaction("view_closed", user), "view": view, "is_cleared": False}
            answer = await self._send(urlencode({"payload": json.dumps(payload)}))
        self.slack.close_view(view_id)
        return answer

    # -- Slack's plumbing --------------------------------------------------------------------

    def _trigger(self, user: str) -> str:
        trigger_id = f"{int(time.time())}.{secrets.token_hex(6)}"
        self.slack.register_trigger(trigger_id, user)
        return trigger_id

    async def _send(
        self, body: str, *, content_type: str = "application/x-www-form-urlencoded"
    ) -> Answer:
        timestamp = str(int(time.time()))
        signature = self._verifier.generate_signature(timestamp=timestamp, body=body)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or "",
        }
        try:
            response = await self._http.post(self.events_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Answer(502, {"error": f"the bot did not answer: {exc}"})
        return Answer(response.status_code, _body(response))

    def _show_ack(self, answer: Answer, *, channel: str, user: str) -> None:
        """Text in a command's acknowledgement shows to its user only, as in Slack."""
        body = answer.body
        if answer.status != 200 or not body:
            return
        message = body if isinstance(body, dict) else {"text": str(body)}
        if message.get("text") or message.get("blocks"):
            self.slack.show_ephemeral(channel=channel, user=user, message=message)

    def _after_submission(self, answer: Answer, *, view_id: str, user: str) -> Answer:
        body = answer.body if isinstance(answer.body, dict) else {}
        action = body.get("response_action")
        if answer.status != 200:
            return answer
        if action == "errors":
            errors = body.get("errors") or {}
            return Answer(200, body, errors={str(k): str(v) for k, v in errors.items()})
        if action == "update" and isinstance(body.get("view"), dict):
            self.slack.replace_view(view_id, body["view"])
        elif action == "push" and isinstance(body.get("view"), dict):
            self.slack.push_view(body["view"], user=user, over=view_id)
        elif action == "clear":
            self.slack.close_view(view_id, all_of_stack=True)
        else:
            self.slack.close_view(view_id)
        return answer


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _user_name(user: str) -> str:
    return next((u.name for u in USERS if u.id == user), user)


def _channel_name(channel: str) -> str:
    return next((c.name for c in CHANNELS if c.id == channel), channel)


def _interaction(kind: str, user: str) -> dict[str, Any]:
    """What every interaction payload of ``user`` carries."""
    return {
        "type": kind,
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": _user_json(user),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "is_enterprise_install": False,
    }


def _user_json(user: str) -> dict[str, str]:
    name = _user_name(user)
    return {"id": user, "username": name, "name": name, "team_id": TEAM_ID}
