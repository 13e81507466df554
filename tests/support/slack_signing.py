"""Build inbound Slack requests (slash commands, interactions) signed exactly as Slack signs them.

Slack signs ``v0:{X-Slack-Request-Timestamp}:{raw body}`` with HMAC-SHA256 and the app's
signing secret and sends ``v0=<hex>`` in ``X-Slack-Signature`` (reference §7). Bolt verifies
the *raw* body, so helpers here return the exact bytes to send; sign those same bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

__all__ = [
    "app_home_opened_body",
    "block_actions_body",
    "block_suggestion_body",
    "sign",
    "slash_command_body",
    "slash_command_fields",
    "view_submission_body",
]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
DEFAULT_RESPONSE_URL = "https://hooks.slack.test/response/1"
DEFAULT_TRIGGER_ID = "1337.42.abcd"
_trigger_counter = itertools.count(1)


def new_trigger_id() -> str:
    """Slack gives every command and click a trigger id of its own (a retry repeats it)."""
    return f"{1337 + next(_trigger_counter)}.42.{secrets.token_hex(8)}"


# Slack still sends the deprecated verification token; Bolt ignores it when signing is on.
_VERIFICATION_TOKEN = "fake-verification-token"
_API_APP_ID = "A0TEST"


JSON_CONTENT_TYPE = "application/json"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack would send with ``body``.

    ``timestamp`` defaults to now; pass an old one to test replay rejection (>300 s).
    """
    ts = str(int(time.time()) if timestamp is None else timestamp)
    basestring = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": FORM_CONTENT_TYPE,
    }


def slash_command_body(**fields: Any) -> bytes:
    """A slash-command POST body, form-encoded with the fields Slack sends."""
    return urlencode(slash_command_fields(**fields)).encode()


def slash_command_fields(
    *,
    command: str = "/aicore",
    text: str,
    user_id: str = "U123",
    user_name: str = "alice",
    channel_id: str = "C123",
    channel_name: str = "ml-runs",
    team_id: str = "T0TEST",
    response_url: str = DEFAULT_RESPONSE_URL,
    trigger_id: str | None = None,
) -> dict[str, str]:
    """The fields of a slash command (in Socket Mode, the envelope's payload)."""
    return {
        "token": _VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": "fake-workspace",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": _API_APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }


def _payload_body(payload: dict[str, Any]) -> bytes:
    # Interactions arrive as a form with a single ``payload`` field holding JSON.
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def _user(user_id: str, user_name: str, team_id: str) -> dict[str, str]:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id}


def block_actions_body(
    *,
    action_id: str,
    value: str,
    block_id: str = "b",
    user_id: str = "U123",
    user_name: str = "alice",
    channel_id: str = "C123",
    channel_name: str = "ml-runs",
    message_ts: str | None = "1700000000.000100",
    response_url: str = DEFAULT_RESPONSE_URL,
    trigger_id: str | None = None,
    team_id: str = "T0TEST",
    container: dict[str, Any] | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    selected_option: dict[str, Any] | None = None,
) -> bytes:
    """A ``block_actions`` payload for a button click (or, with ``selected_option``, a pick
    in an external select).

    * ``message_ts`` given: a click on a channel message; ``message`` (defaults to a minimal
      bot message with that ts) is merged over ``{"type": "message", "ts": message_ts}``.
    * ``message_ts=None``: a click on an ephemeral message, which carries no ``message``.
    * ``view`` given: a click inside a modal; container and ``view`` point at it.
    """
    action_ts = f"{time.time():.6f}"
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": team_id, "domain": "fake-workspace"},
        "user": _user(user_id, user_name, team_id),
        "api_app_id": _API_APP_ID,
        "token": _VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "is_enterprise_install": False,
        "enterprise": None,
    }
    if view is not None:
        payload["container"] = container or {"type": "view", "view_id": view.get("id", "")}
        payload["view"] = view
    else:
        payload["channel"] = {"id": channel_id, "name": channel_name}
        if message_ts is not None:
            payload["container"] = container or {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": False,
            }
            payload["message"] = {
                "type": "message",
                "user": "UBOT",
                "bot_id": "B0TEST",
                "text": "",
                "blocks": [],
                **(message or {}),
                "ts": message_ts,
            }
        else:
            payload["container"] = container or {
                "type": "message",
                "message_ts": action_ts,
                "channel_id": channel_id,
                "is_ephemeral": True,
            }
    payload["state"] = {"values": {}}
    payload["response_url"] = response_url
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": action_id, "emoji": True},
        "value": value,
        "type": "button",
        "action_ts": action_ts,
    }
    if selected_option is not None:
        action = {
            "type": "external_select",
            "action_id": action_id,
            "block_id": block_id,
            "selected_option": selected_option,
            "action_ts": action_ts,
        }
    payload["actions"] = [action]
    return _payload_body(payload)


def view_submission_body(
    *,
    callback_id: str,
    values: dict[str, dict[str, dict[str, Any]]] | None = None,
    private_metadata: str = "",
    view_id: str = "V0000000001",
    user_id: str = "U123",
    user_name: str = "alice",
    team_id: str = "T0TEST",
    trigger_id: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    response_urls: list[dict[str, str]] | None = None,
) -> bytes:
    """A ``view_submission`` payload; ``values`` is ``state.values`` (block_id -> action_id)."""
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "fake-workspace"},
        "user": _user(user_id, user_name, team_id),
        "api_app_id": _API_APP_ID,
        "token": _VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": blocks or [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": values or {}},
            "hash": "1700000000.fakehash",
            "title": {"type": "plain_text", "text": "Modal"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "submit": {"type": "plain_text", "text": "Submit"},
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": _API_APP_ID,
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": "B0TEST",
        },
        "response_urls": response_urls or [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _payload_body(payload)


def button_click_body(
    *,
    action_id: str,
    value: str,
    user_id: str,
    channel_id: str,
    message_ts: str | None,
    response_url: str,
    ephemeral: bool = False,
) -> bytes:
    """A click on a button in a channel message (or an ephemeral one), as Slack sends it."""
    container: dict[str, Any] = {
        "type": "message",
        "channel_id": channel_id,
        "is_ephemeral": ephemeral,
    }
    if message_ts:
        container["message_ts"] = message_ts
    return block_actions_body(
        action_id=action_id,
        value=value,
        user_id=user_id,
        channel_id=channel_id,
        message_ts=message_ts,
        response_url=response_url,
        container=container,
    )


def block_suggestion_body(
    *,
    action_id: str,
    block_id: str,
    value: str,
    view: dict[str, Any],
    user_id: str = "U123",
    user_name: str = "alice",
    team_id: str = "T0TEST",
) -> bytes:
    """A ``block_suggestion`` payload: the user typed ``value`` into an external_select of a
    modal (``view``, with its ``state`` as the user left it)."""
    payload: dict[str, Any] = {
        "type": "block_suggestion",
        "user": _user(user_id, user_name, team_id),
        "container": {"type": "view", "view_id": view.get("id", "")},
        "api_app_id": _API_APP_ID,
        "token": _VERIFICATION_TOKEN,
        "action_id": action_id,
        "block_id": block_id,
        "value": value,
        "team": {"id": team_id, "domain": "fake-workspace"},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view,
    }
    return _payload_body(payload)


def app_home_opened_body(*, user_id: str, team_id: str = "T0TEST", tab: str = "home") -> bytes:
    """The Events API's ``app_home_opened``, as JSON (sign it with a JSON content type)."""
    event_ts = f"{time.time():.6f}"
    envelope = {
        "token": _VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": _API_APP_ID,
        "event": {
            "type": "app_home_opened",
            "user": user_id,
            "channel": "D0HOME0001",
            "tab": tab,
            "event_ts": event_ts,
        },
        "type": "event_callback",
        "event_id": f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(float(event_ts)),
        "authorizations": [
            {"team_id": team_id, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}
        ],
    }
    return json.dumps(envelope, separators=(",", ":")).encode()
