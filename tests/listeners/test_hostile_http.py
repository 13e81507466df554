"""POST /slack/events answers 2xx or 4xx, never 5xx, whatever the body of a signed request.

Before the screening in :mod:`bot.inbound`, each explicit case below got HTTP 500 from Bolt's
parsing, context building or listener matching. The property test sends arbitrary bodies
(random bytes, forms, JSON of any shape and depth, and real payloads of every kind with one
to three fields changed) through the whole app, listeners included.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, event, given
from hypothesis import strategies as st

from bot import blocks
from bot.app import Components
from bot.inbound import MAX_BODY_BYTES
from bot.web import build_web
from tests.support.bolt import SIGNING_SECRET
from tests.support.properties import cases
from tests.support.slack_signing import (
    block_actions_body,
    sign,
    slash_command_body,
    slash_command_fields,
    view_submission_body,
)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@pytest.fixture
async def bot_http(wired: Components) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the bot's Starlette app; an exception escaping the app fails the test."""
    web = build_web(wired)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://bot.test"
    ) as client:
        yield client


async def post(
    client: httpx.AsyncClient,
    body: bytes,
    *,
    content_type: str = FORM,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    signed = {**sign(SIGNING_SECRET, body), "Content-Type": content_type}
    return await client.post("/slack/events", content=body, headers=headers or signed)


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


def interaction(payload: Any) -> bytes:
    """An interaction as Slack sends it: one form field ``payload`` holding JSON."""
    return form(payload=json.dumps(payload))


def payload_of(body: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(parse_qs(body.decode())["payload"][0])
    return parsed


DROP = object()  # a field of a payload to leave out


def changed(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in {**base, **changes}.items() if v is not DROP}


def click(**changes: Any) -> dict[str, Any]:
    """A click on the Logs button of a card, with some fields replaced (or DROPped)."""
    base = payload_of(block_actions_body(action_id=blocks.ACTION_LOGS, value="aicore:default:e1"))
    return changed(base, changes)


def submission(**changes: Any) -> dict[str, Any]:
    """The typed-ID modal submitted, with some fields replaced (or DROPped)."""
    base = payload_of(
        view_submission_body(
            callback_id=blocks.CALLBACK_PROTECTED,
            private_metadata=json.dumps({"token": "tok1"}),
        )
    )
    return changed(base, changes)


def submitted_view(**changes: Any) -> dict[str, Any]:
    return submission(view=changed(submission()["view"], changes))


def command_fields(**changes: Any) -> dict[str, Any]:
    return changed(slash_command_fields(text="list"), changes)


def deep_list(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def case(body: bytes, status: int, name: str, content_type: str = FORM) -> Any:
    return pytest.param(body, content_type, status, id=name)


# Each of these got HTTP 500 before bot.inbound; the id names the exception Bolt (or, last,
# the bot's listeners) raised.
HOSTILE: list[Any] = [
    case(form(payload="{not json"), 400, "payload-not-json-JSONDecodeError"),
    case(form(payload='"a string"'), 400, "payload-a-string-AttributeError"),
    case(form(payload="[1, 2]"), 400, "payload-a-list-AttributeError"),
    case(form(payload="null"), 400, "payload-null-AttributeError"),
    case(b"[1, 2]", 400, "json-body-a-list-AttributeError", JSON),
    case(form(payload=deep_list(100_000)), 400, "payload-deeply-nested-RecursionError"),
    case(deep_object(100_000).encode(), 400, "json-body-deeply-nested-RecursionError", JSON),
    case(form(payload='{"n": ' + "9" * 5000 + "}"), 400, "payload-huge-integer-ValueError"),
    # Slack signs UTF-8 text; SignatureVerifier cannot hash anything else: 401, not 400.
    case(b"payload=%7B%7D&x=\xff\xfe", 401, "not-utf8-UnicodeDecodeError"),
    case(interaction(click(actions={"action_id": "run_logs"})), 400, "actions-an-object-KeyError"),
    case(interaction(click(actions=[])), 400, "actions-empty-IndexError"),
    case(interaction(click(actions="run_logs")), 400, "actions-a-string-TypeError"),
    case(interaction(click(actions=[5])), 400, "action-not-an-object-TypeError"),
    case(interaction(click(user=5)), 400, "user-a-number-TypeError"),
    case(interaction(click(team=7)), 400, "team-a-number-TypeError"),
    case(interaction(click(authorizations="abc")), 400, "authorizations-a-string-AttributeError"),
    case(
        interaction(click(response_url=DROP, response_urls="x")),
        400,
        "response-urls-a-string-AttributeError",
    ),
    case(
        interaction(submission(response_urls=[{"response_url": "u1"}, {"response_url": "u2"}])),
        400,
        "two-response-urls-KeyError",  # Bolt logs through a context logger not yet there
    ),
    case(interaction(submission(view=5)), 400, "view-a-number-TypeError"),
    case(interaction(submission(view="V123")), 400, "view-a-string-AttributeError"),
    case(interaction(submitted_view(type=DROP)), 400, "view-without-type-KeyError"),
    case(form(type="event_callback", event="app_mention"), 400, "event-a-string-AttributeError"),
    case(
        json.dumps({"type": "event_callback", "event": None}).encode(),
        400,
        "event-null-AttributeError",
        JSON,
    ),
    case(
        interaction({"type": "dialog_suggestion", "callback_id": "c", "action_id": 5}),
        400,
        "dialog-suggestion-action-id-a-number-TypeError",
    ),
    # A slash command form without `command` is no kind Bolt knows; its warning about an
    # unhandled request then reads the other fields, and raised on this one.
    case(form(**command_fields(command=DROP, view="V123")), 400, "command-form-without-command"),
    # The bot's listeners (a click, the typed-ID modal) read these fields as Slack sends them.
    case(interaction(click(user="U123")), 400, "user-a-string-AttributeError"),
    case(interaction(click(channel="C123")), 400, "channel-a-string-AttributeError"),
    case(interaction(click(container="C123")), 400, "container-a-string-AttributeError"),
    case(
        interaction(submitted_view(private_metadata=["tok1"])),
        400,
        "private-metadata-a-list-TypeError",
    ),
    case(
        interaction(submitted_view(state={"values": True})),
        400,
        "state-values-not-an-object-AttributeError",
    ),
]


@pytest.mark.parametrize(("body", "content_type", "status"), HOSTILE)
async def test_a_hostile_signed_body_is_refused_with_a_4xx(
    bot_http: httpx.AsyncClient, body: bytes, content_type: str, status: int
) -> None:
    response = await post(bot_http, body, content_type=content_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/plain")


async def test_a_body_over_the_limit_is_413_and_the_refusal_quotes_nothing(
    bot_http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="bot.web")
    body = form(payload=json.dumps(click(filler="x" * MAX_BODY_BYTES)))
    assert (await post(bot_http, body)).status_code == 413
    hostile = interaction(click(user="U-SECRET-MARKER"))
    assert (await post(bot_http, hostile)).status_code == 400
    assert "refused a request to /slack/events" in caplog.text
    assert "SECRET-MARKER" not in caplog.text and "filler" not in caplog.text


async def test_a_streamed_body_is_not_read_past_the_limit(bot_http: httpx.AsyncClient) -> None:
    piece = b"x" * 65536
    pieces = MAX_BODY_BYTES // len(piece) + 2
    sent: list[int] = []

    async def stream() -> AsyncIterator[bytes]:
        # No Content-Length: the cap is on what is read, not on what is declared.
        for index in range(pieces):
            sent.append(index)
            yield piece

    headers = sign(SIGNING_SECRET, piece * pieces)
    response = await bot_http.post("/slack/events", content=stream(), headers=headers)
    assert response.status_code == 413
    assert len(sent) < pieces


async def test_well_formed_requests_still_reach_the_listeners(bot_http: httpx.AsyncClient) -> None:
    command = await post(bot_http, form(**slash_command_fields(text="help")))
    assert command.status_code == 200 and "/aicore" in command.text
    clicked = await post(bot_http, interaction(click()))
    assert clicked.status_code == 200
    challenge = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "t"})
    verified = await post(bot_http, challenge.encode(), content_type=JSON)
    assert verified.status_code == 200 and verified.json() == {"challenge": "c-123"}


async def test_forms_that_slack_never_sends_are_400_and_its_ssl_check_is_answered(
    bot_http: httpx.AsyncClient,
) -> None:
    # Bolt answered 404 to a command form without `command` (no listener for it): Slack
    # sends form fields without a payload only for slash commands and their SSL check.
    assert (await post(bot_http, form(**command_fields(command=DROP)))).status_code == 400
    assert (await post(bot_http, form(type="block_actions", user="U1"))).status_code == 400
    assert (await post(bot_http, form(ssl_check="1", token="t"))).status_code == 200


def bad_signature(body: bytes) -> dict[str, str]:
    headers = sign(SIGNING_SECRET, body)
    digest = headers["X-Slack-Signature"]
    headers["X-Slack-Signature"] = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    return headers


@pytest.mark.parametrize(
    "make_headers",
    [
        pytest.param(lambda body: {"Content-Type": FORM}, id="unsigned"),
        pytest.param(bad_signature, id="bad-signature"),
        pytest.param(lambda body: sign("another-secret-0123456789", body), id="other-secret"),
        pytest.param(lambda body: sign(SIGNING_SECRET, body, timestamp=1), id="stale"),
        pytest.param(
            lambda body: {**sign(SIGNING_SECRET, body), "X-Slack-Request-Timestamp": "soon"},
            id="timestamp-not-a-number",
        ),
        pytest.param(
            lambda body: {**sign(SIGNING_SECRET, body), "X-Slack-Request-Timestamp": "9" * 400},
            id="timestamp-too-large-for-a-float",
        ),
    ],
)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(form(**slash_command_fields(text="list")), id="command"),
        pytest.param(form(payload="{not json"), id="hostile"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
    ],
)
async def test_an_unsigned_or_badly_signed_body_is_401(
    bot_http: httpx.AsyncClient, body: bytes, make_headers: Any
) -> None:
    response = await post(bot_http, body, headers=make_headers(body))
    assert response.status_code == 401


# -- property ----------------------------------------------------------------------------

SLACK_KEYS = [
    "type", "user", "user_id", "channel", "channel_id", "team", "team_id", "enterprise",
    "authorizations", "event", "message", "previous_message", "item", "actions", "action_id",
    "view", "callback_id", "command", "text", "response_url", "response_urls", "container",
    "state", "private_metadata", "trigger_id", "challenge", "ssl_check", "workflow_step",
    "payload", "id", "value", "is_ext_shared_channel", "function_execution_id",
]  # fmt: skip
KINDS = [
    "block_actions", "view_submission", "view_closed", "block_suggestion", "event_callback",
    "url_verification", "interactive_message", "workflow_step_edit", "shortcut",
    "message_action", "app_mention", "message", "workflow_step", "function_executed",
    "dialog_suggestion", "dialog_submission", "ssl_check",
]  # fmt: skip
# What the bot's listeners answer to: their commands, buttons and modal.
LISTENED = [
    "/aicore", "/bria", blocks.ACTION_LOGS, blocks.ACTION_STOP, blocks.ACTION_BULK_CONFIRM,
    blocks.CALLBACK_PROTECTED, "U123", "C123", "1",
]  # fmt: skip

keys = st.sampled_from(SLACK_KEYS) | st.text(max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from([*KINDS, *LISTENED])
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)


def real_payloads() -> dict[str, dict[str, Any]]:
    """One real payload of every kind the bot may be sent."""
    event = {"type": "app_mention", "user": "U123", "text": "hi", "channel": "C123", "ts": "1.2"}
    return {
        "block_actions": click(),
        "view_submission": submission(),
        "view_closed": {**submission(), "type": "view_closed"},
        "block_suggestion": {
            "type": "block_suggestion",
            "action_id": "pick",
            "block_id": "b",
            "value": "abc",
            "user": {"id": "U123", "team_id": "T0TEST"},
            "team": {"id": "T0TEST"},
        },
        "event_callback": {
            "type": "event_callback",
            "team_id": "T0TEST",
            "api_app_id": "A0TEST",
            "event": event,
            "event_id": "Ev1",
            "event_time": 1,
            "authorizations": [{"team_id": "T0TEST", "user_id": "UBOT", "is_bot": True}],
        },
        "url_verification": {"type": "url_verification", "challenge": "c", "token": "t"},
    }


@st.composite
def mutated(draw: st.DrawFn, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with one to three changes, each somewhere in its tree (objects and lists):
    a field replaced, added or removed. The copy is made through JSON: the original stays."""
    root: dict[str, Any] = json.loads(json.dumps(payload))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        node: Any = root
        while True:
            inner = [k for k, v in _items(node) if isinstance(v, dict | list) and v]
            if not inner or draw(st.booleans()):
                break
            node = node[draw(st.sampled_from(inner))]
        operation = draw(st.sampled_from(["replace", "add", "remove"]))
        if isinstance(node, list):
            if operation == "add" or not node:
                node.append(draw(json_values))
            else:
                index = draw(st.integers(min_value=0, max_value=len(node) - 1))
                if operation == "remove":
                    del node[index]
                else:
                    node[index] = draw(json_values)
        elif operation == "remove" and node:
            del node[draw(st.sampled_from(sorted(node)))]
        elif operation == "replace" and node:
            node[draw(st.sampled_from(sorted(node)))] = draw(json_values)
        else:
            node[draw(keys)] = draw(json_values)
    return root


def _items(node: Any) -> list[tuple[Any, Any]]:
    if isinstance(node, dict):
        return sorted(node.items(), key=lambda item: str(item[0]))
    return list(enumerate(node)) if isinstance(node, list) else []


def encoded(draw: st.DrawFn, payload: Any) -> tuple[bytes, str]:
    how = draw(st.sampled_from(["payload", "json", "form"]))
    if how == "payload":
        return interaction(payload), FORM
    if how == "json":
        return json.dumps(payload).encode(), JSON
    fields = payload if isinstance(payload, dict) else {"value": payload}
    return urlencode(
        {str(k): json.dumps(v) if not isinstance(v, str) else v for k, v in fields.items()}
    ).encode(), FORM


@st.composite
def hostile_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["bytes", "form", "json", "deep", "command", "mutated"]))
    content_type = draw(st.sampled_from([FORM, JSON, "text/plain", f"{JSON}; charset=utf-8"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300)), content_type
    if kind == "form":
        fields = draw(st.dictionaries(keys, st.text(max_size=20) | json_values.map(json.dumps)))
        return urlencode(fields).encode(), content_type
    if kind == "json":
        return encoded(draw, draw(json_values))
    if kind == "deep":
        depth = draw(st.integers(min_value=1, max_value=5000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"event":', "}")]))
        text = opener * depth + draw(st.sampled_from(["1", "[]", "{}"])) + closer * depth
        return (form(payload=text) if draw(st.booleans()) else text.encode()), content_type
    if kind == "command":
        command: dict[str, Any] = dict(slash_command_fields(text=draw(st.text(max_size=30))))
        for key in draw(st.lists(st.sampled_from(sorted(command)), max_size=3, unique=True)):
            del command[key]
        return encoded(draw, command)
    base = draw(st.sampled_from(sorted(real_payloads().items())))[1]
    return encoded(draw, draw(mutated(base)))


# The app is shared by the examples of one test (it keeps no state that changes an answer),
# and each example is a whole request through it and the database: no per-example deadline.
@cases(ci=1500, local=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=hostile_bodies())
async def test_no_signed_body_gets_a_5xx(
    bot_http: httpx.AsyncClient, request: tuple[bytes, str]
) -> None:
    body, content_type = request
    response = await post(bot_http, body, content_type=content_type)
    event(f"HTTP {response.status_code}")  # --hypothesis-show-statistics: how far they got
    assert response.status_code < 500, response.text


async def test_a_command_whose_text_says_payload_is_answered_as_a_command(
    bot_http: httpx.AsyncClient,
) -> None:
    # Bolt alone took this for an interaction without a payload: 404, "dispatch_failed".
    body = slash_command_body(text="status payload-run")
    response = await post(bot_http, body)
    assert response.status_code == 200
    assert response.content == b""  # acknowledged; the answer follows on the response URL
