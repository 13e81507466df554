"""What ``POST /slack/events`` checks before Bolt sees a request.

Bolt parses the body and reads fields of it while it builds its context and matches
listeners, outside any error handling of ours: a body of the wrong shape is an exception
there, and the client gets HTTP 500. These checks refuse such a body first (401, 413 or 400,
with a short reason that quotes nothing of the body), so that whatever passes is what Bolt
then takes without error. They mirror ``slack_bolt.request.internals.parse_body`` and the
fields that ``build_context``, the built-in middleware, the listener matchers, the listener
arguments (``to_action``, ``to_view``, ``to_step``...) and the bot's own listeners rely on.

Everything here is pure, except :func:`read_capped`, which only consumes the chunks given.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeGuard
from urllib.parse import parse_qsl

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "TOO_LARGE",
    "Malformed",
    "Parsed",
    "Refusal",
    "bolt_content_type",
    "check_shape",
    "decode",
    "parse_like_bolt",
    "read_capped",
    "repaired",
    "screen",
]

# Slack's payloads stay far below this (a modal of 100 blocks is tens of KiB).
MAX_BODY_BYTES = 1024 * 1024
# Slack's payloads nest about a dozen levels deep (a view's rich text in its state); a limit
# far below Python's recursion limit keeps every recursive consumer of the body safe: Bolt's
# context extraction, json.dumps of the body for a request key, the database's JSON columns.
MAX_JSON_DEPTH = 64

JSON_CONTENT_TYPE = "application/json"


class Malformed(ValueError):
    """A body Bolt cannot take. The message is a short reason that quotes nothing of it."""


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str


TOO_LARGE = Refusal(413, f"request body larger than {MAX_BODY_BYTES} bytes")
UNVERIFIED = Refusal(401, "invalid request signature or timestamp")


async def read_capped(
    chunks: AsyncIterable[bytes], *, declared_length: str | None, limit: int = MAX_BODY_BYTES
) -> bytes | None:
    """The body, or None when it is longer than ``limit``: a declared length over the limit
    is refused without reading anything, and a stream that runs past it is not read on."""
    if _declared(declared_length) > limit:
        return None
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _declared(length: str | None) -> int:
    """A Content-Length, or 0 when there is none that int() takes (then the stream decides)."""
    try:
        return int(length) if length is not None else 0
    except ValueError:
        return 0


def screen(
    raw: bytes, headers: Iterable[tuple[str, str]], verifier: SignatureVerifier
) -> Refusal | None:
    """None if Bolt may have the request; otherwise why not (401 before any look at the body)."""
    pairs = list(headers)
    try:
        text = decode(raw)
    except Malformed:
        # Slack signs UTF-8 text, and SignatureVerifier hashes text only: a body that is not
        # UTF-8 cannot be verified, and nothing is said about it to an unverified sender.
        return UNVERIFIED
    if not _verified(verifier, text, pairs):
        return UNVERIFIED
    try:
        parsed = parse_like_bolt(text, bolt_content_type(pairs))
        check_shape(parsed.body, form=parsed.form)
    except Malformed as exc:
        return Refusal(400, str(exc))
    return None


def _verified(verifier: SignatureVerifier, text: str, headers: list[tuple[str, str]]) -> bool:
    timestamp = _last(headers, "x-slack-request-timestamp")
    signature = _last(headers, "x-slack-signature")
    try:
        return bool(verifier.is_valid(body=text, timestamp=timestamp, signature=signature))
    except (ValueError, OverflowError):
        # The verifier takes int(timestamp) and subtracts it from the clock's float: a
        # timestamp that is not a number, or too large a one, is simply not a valid one.
        return False


def _last(headers: list[tuple[str, str]], name: str) -> str | None:
    """The header's last value: Bolt's normalised headers keep the last of repeated ones."""
    found = None
    for key, value in headers:
        if key.lower() == name:
            found = value
    return found


def bolt_content_type(headers: Iterable[tuple[str, str]]) -> str | None:
    """The content type as Bolt reads it: the last header's value up to ``;``, unstripped."""
    value = _last(list(headers), "content-type")
    return value.split(";")[0] if value else None


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("request body is not UTF-8") from None


class Parsed(NamedTuple):
    body: dict[str, Any]
    form: bool  # form fields without a ``payload``: what Slack sends for slash commands


def parse_like_bolt(text: str, content_type: str | None) -> Parsed:
    """The body as ``slack_bolt.request.internals.parse_body`` parses it, or Malformed, but
    for one bug of Bolt's: it takes a form that contains the text ``payload`` anywhere (a
    slash command ``/aicore start payload-train``) for an interaction without a payload, and
    parses it as an empty body. Here only a ``payload`` field makes an interaction;
    :func:`repaired` hands Bolt the body parsed this way.
    """
    if not text:
        return Parsed({}, form=False)
    if content_type == JSON_CONTENT_TYPE or text.startswith("{"):
        return Parsed(_json_object(text, "request body"), form=False)
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in fields:
        return Parsed(_json_object(fields["payload"], "payload"), form=False)
    return Parsed(fields, form=True)


def repaired(request: AsyncBoltRequest) -> AsyncBoltRequest:
    """Bolt's request for a body that passed :func:`screen`, its body as
    :func:`parse_like_bolt` parses it where Bolt parsed it wrong (the raw text stays: Bolt
    verifies its signature again). Only the one body Bolt gets wrong is parsed again: a form
    that Bolt found empty although it mentions ``payload``."""
    if request.body or "payload" not in request.raw_body:
        return request
    parsed = parse_like_bolt(request.raw_body, request.content_type).body
    request.body = parsed
    request.context = build_async_context(AsyncBoltContext({}), parsed)
    return request


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        # The C scanner recurses once per level and gives up at the recursion limit.
        raise Malformed(f"{what} nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:
        # JSONDecodeError, NaN or Infinity, or an integer of more than 4300 digits.
        raise Malformed(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise Malformed(f"{what} is JSON but not an object")
    _check_tree(value, what)
    return value


def _check_tree(root: dict[str, Any], what: str) -> None:
    """Depth at most MAX_JSON_DEPTH, and every string encodable: JSON's ``\\ud800`` escapes
    give lone surrogates, which no database or UTF-8 writer takes. Iterative on purpose."""
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _require(value.isascii() or _encodable(value), f"{what} has an invalid string")
            continue
        if not isinstance(value, dict | list):
            continue
        _require(depth <= MAX_JSON_DEPTH, f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((key, depth))
                stack.append((item, depth + 1))
        else:
            stack.extend((item, depth + 1) for item in value)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise Malformed(reason)


# -- shapes ----------------------------------------------------------------------------------

# Where build_context looks for ids: these may be a string or an object, never anything else
# ("id" in value, then value.get), in the body and in every object it descends into.
_ID_FIELDS = ("user", "channel", "team", "enterprise")
_DESCENDS_INTO = ("event", "message", "previous_message", "item", "assistant_thread")


def check_shape(body: dict[str, Any], *, form: bool = False) -> None:
    """Malformed unless Bolt (and the bot's listeners) can read every field they will read.

    Kinds are told apart as Bolt tells them (a ``command`` field is a slash command, else the
    ``type``), and each check applies whenever Bolt's own test for that kind would be true.
    ``form``: the body was form fields without a ``payload``, which Slack sends only for a
    slash command or its SSL check; anything else of that encoding is not from Slack.
    """
    _context_fields(body)
    if "command" in body or (form and "ssl_check" not in body):
        _slash_command(body)
    kind = body.get("type")
    check = _KIND_CHECKS.get(kind) if isinstance(kind, str) else None
    if check is not None:
        check(body)


def _context_fields(body: dict[str, Any]) -> None:
    # Every middleware reads body.get("event", {}).get(...), and Bolt's warning about an
    # unhandled request reads body["view"].get(...): each is an object, or absent.
    for key in ("event", "view"):
        _require(key not in body or isinstance(body[key], dict), f"{key} must be an object")
    # build_context takes response_urls[0].get("response_url") when there is no response_url,
    # and with more than one it logs through a context logger that is not there yet (KeyError).
    if "response_urls" in body and "response_url" not in body:
        urls = body["response_urls"]
        _require(_objects(urls), "response_urls must be a list of objects")
        _require(len(urls) <= 1, "Bolt takes at most one of response_urls")
    pending = [body]
    while pending:
        payload = pending.pop()
        for key in _ID_FIELDS:
            value = payload.get(key)
            _require(
                value is None or isinstance(value, str | dict),
                f"{key} must be a string or an object",
            )
        authorizations = payload.get("authorizations")
        if authorizations is not None:
            _require(_objects(authorizations), "authorizations must be a list of objects")
            pending.extend(authorizations[:1])  # build_context reads the first one only
        pending.extend(payload[key] for key in _DESCENDS_INTO if isinstance(payload.get(key), dict))


def _objects(value: Any) -> TypeGuard[list[dict[str, Any]]]:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _string_fields(payload: dict[str, Any], where: str, *keys: str) -> None:
    for key in keys:
        _require(isinstance(payload.get(key), str), f"{where} needs a string {key}")


def _user(body: dict[str, Any]) -> None:
    user = body.get("user")
    _require(
        isinstance(user, dict) and isinstance(user.get("id"), str),
        "user must be an object with a string id",
    )


def _optional_object(body: dict[str, Any], key: str) -> None:
    value = body.get(key)
    _require(value is None or isinstance(value, dict), f"{key} must be an object")


def _slash_command(body: dict[str, Any]) -> None:
    _string_fields(body, "a slash command", "command", "user_id", "channel_id")
    # Slack sends commands form-encoded: every field is a string, and the listeners say so.
    _require(all(isinstance(v, str) for v in body.values()), "slash command fields are strings")


def _actions(body: dict[str, Any]) -> None:
    actions = body.get("actions")
    # to_action takes body["actions"][0]; the action matchers read its action_id.
    _require(
        _objects(actions)
        and bool(actions)
        and all(isinstance(a.get("action_id"), str) for a in actions),
        "actions must be a non-empty list of objects with a string action_id",
    )


def _block_actions(body: dict[str, Any]) -> None:
    _actions(body)
    _user(body)
    # The click listener reads (body.get("channel") or {}).get("id"), the same of container.
    _optional_object(body, "channel")
    _optional_object(body, "container")


def _interactive_message(body: dict[str, Any]) -> None:
    if "callback_id" in body:  # to_action takes body["actions"][0] of these too
        _actions(body)


def _view(body: dict[str, Any]) -> dict[str, Any]:
    view = body.get("view")
    reason = "view must be an object with a string callback_id"
    if not isinstance(view, dict):
        raise Malformed(reason)
    _require(isinstance(view.get("callback_id"), str), reason)
    _user(body)
    # The modal listeners read these as Slack sends them: a string of metadata, and the
    # inputs' values as objects in objects.
    metadata = view.get("private_metadata")
    _require(metadata is None or isinstance(metadata, str), "private_metadata must be a string")
    _optional_object(view, "state")
    _optional_object(view.get("state") or {}, "values")
    return view


def _view_submission(body: dict[str, Any]) -> None:
    view = _view(body)
    # to_step reads body["view"]["type"], and body["workflow_step"] of a workflow step.
    _string_fields(view, "a submitted view", "type")
    if view["type"] == "workflow_step":
        _require("workflow_step" in body, "a workflow step's submission needs workflow_step")


def _view_closed(body: dict[str, Any]) -> None:
    _view(body)


def _block_suggestion(body: dict[str, Any]) -> None:
    _string_fields(body, "a block suggestion", "action_id")
    _user(body)


def _event_callback(body: dict[str, Any]) -> None:
    event = body.get("event")
    if not isinstance(event, dict):
        raise Malformed("event must be an object with a string type")
    _string_fields(event, "an event", "type")
    # The unhandled-request warning reads event.get("function", {}).get("callback_id"):
    # absent is fine, null is not.
    _require(
        "function" not in event or isinstance(event["function"], dict),
        "an event's function must be an object",
    )


def _dialog_suggestion(body: dict[str, Any]) -> None:
    # The unhandled-request warning concatenates an options request's action_id.
    action_id = body.get("action_id")
    _require(action_id is None or isinstance(action_id, str), "action_id must be a string")


def _url_verification(body: dict[str, Any]) -> None:
    _string_fields(body, "a URL verification", "challenge")


def _workflow_step_edit(body: dict[str, Any]) -> None:
    if "callback_id" in body:  # to_step takes body["workflow_step"]
        _require("workflow_step" in body, "a workflow step edit needs workflow_step")


_KIND_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "block_actions": _block_actions,
    "interactive_message": _interactive_message,
    "view_submission": _view_submission,
    "view_closed": _view_closed,
    "block_suggestion": _block_suggestion,
    "event_callback": _event_callback,
    "dialog_suggestion": _dialog_suggestion,
    "url_verification": _url_verification,
    "workflow_step_edit": _workflow_step_edit,
}
