"""bot.inbound: what passes its checks is what Bolt parses, and Bolt then reads it without error."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from slack_bolt.listener_matcher import builtins
from slack_bolt.logger.messages import warning_unhandled_request
from slack_bolt.request import BoltRequest
from slack_bolt.request import payload_utils as bolt_payloads
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_bolt.response import BoltResponse
from slack_sdk.signature import Clock, SignatureVerifier

from bot.inbound import (
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    TOO_LARGE,
    Malformed,
    Refusal,
    bolt_content_type,
    check_shape,
    decode,
    parse_like_bolt,
    read_capped,
    repaired,
    screen,
)
from tests.support.properties import cases

SECRET = "unit-signing-secret-0123456789"
NOW = 1_700_000_000
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class FixedClock(Clock):
    def now(self) -> float:
        return float(NOW)


VERIFIER = SignatureVerifier(SECRET, clock=FixedClock())


def signed(body: bytes, *, content_type: str = FORM, timestamp: int = NOW) -> list[tuple[str, str]]:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
    return [
        ("x-slack-request-timestamp", str(timestamp)),
        ("x-slack-signature", f"v0={digest}"),
        ("content-type", content_type),
    ]


def interaction(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


USER = {"id": "U123", "team_id": "T1"}
COMMAND = {
    "command": "/aicore",
    "text": "list",
    "user_id": "U123",
    "channel_id": "C123",
    "team_id": "T1",
    "response_url": "https://hooks.slack.test/1",
    "trigger_id": "1.2.3",
}
REAL: dict[str, dict[str, Any]] = {
    "block_actions": {
        "type": "block_actions",
        "user": USER,
        "team": {"id": "T1"},
        "channel": {"id": "C123"},
        "container": {"type": "message", "channel_id": "C123", "message_ts": "1.2"},
        "actions": [{"action_id": "run_logs", "block_id": "b", "value": "v", "type": "button"}],
        "trigger_id": "1.2.3",
        "response_url": "https://hooks.slack.test/1",
    },
    "view_submission": {
        "type": "view_submission",
        "user": USER,
        "team": {"id": "T1"},
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "protected_confirm",
            "private_metadata": "{}",
            "state": {"values": {"typed_id": {"run_id": {"type": "plain_text_input"}}}},
        },
        "response_urls": [],
    },
    "view_closed": {
        "type": "view_closed",
        "user": USER,
        "view": {"id": "V1", "type": "modal", "callback_id": "protected_confirm"},
    },
    "block_suggestion": {"type": "block_suggestion", "action_id": "pick", "user": USER},
    "event_callback": {
        "type": "event_callback",
        "team_id": "T1",
        "event": {"type": "app_mention", "user": "U123", "channel": "C123", "ts": "1.2"},
        "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
    },
    "url_verification": {"type": "url_verification", "challenge": "c", "token": "t"},
}


# -- reading and verifying -------------------------------------------------------------------


async def chunks_of(*parts: bytes, consumed: list[bytes] | None = None) -> AsyncIterator[bytes]:
    for part in parts:
        if consumed is not None:
            consumed.append(part)
        yield part


async def test_read_capped_reads_up_to_the_limit_and_no_further() -> None:
    assert await read_capped(chunks_of(b"ab", b"cd"), declared_length="4", limit=4) == b"abcd"
    consumed: list[bytes] = []
    too_long = chunks_of(b"abc", b"de", b"never read", consumed=consumed)
    assert await read_capped(too_long, declared_length=None, limit=4) is None
    assert consumed == [b"abc", b"de"]


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    consumed: list[bytes] = []
    declared = str(MAX_BODY_BYTES + 1)
    body = chunks_of(b"x", consumed=consumed)
    assert await read_capped(body, declared_length=declared) is None
    assert consumed == []
    # A length int() does not take is no promise: the stream's own length decides.
    assert await read_capped(chunks_of(b"xy"), declared_length="²", limit=4) == b"xy"
    assert TOO_LARGE.status == 413


def test_a_signed_command_passes() -> None:
    body = urlencode(COMMAND).encode()
    assert screen(body, signed(body), VERIFIER) is None


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("content-type", FORM)], id="unsigned"),
        pytest.param(signed(b"other body"), id="signature-of-another-body"),
        pytest.param(signed(b"text=list", timestamp=NOW - 301), id="stale"),
        pytest.param(
            [("x-slack-request-timestamp", "soon"), ("x-slack-signature", "v0=00")],
            id="timestamp-not-a-number",
        ),
        pytest.param(
            [("x-slack-request-timestamp", "9" * 400), ("x-slack-signature", "v0=00")],
            id="timestamp-too-large-for-a-float",
        ),
    ],
)
def test_a_body_not_signed_by_slack_is_401_before_it_is_parsed(
    headers: list[tuple[str, str]],
) -> None:
    # The body would be a 400 if it were parsed: the 401 says it was not.
    assert screen(b"text=list", headers, VERIFIER) == Refusal(
        401, "invalid request signature or timestamp"
    )


def test_a_body_that_is_not_utf8_cannot_be_verified_so_it_is_401() -> None:
    body = b"payload=%7B%7D\xff"
    assert screen(body, signed(body), VERIFIER) is not None
    assert screen(body, signed(body), VERIFIER) == Refusal(
        401, "invalid request signature or timestamp"
    )
    with pytest.raises(Malformed, match="not UTF-8"):
        decode(body)


def test_the_last_of_repeated_headers_counts_as_for_bolt() -> None:
    body = urlencode(COMMAND).encode()
    headers = [("X-Slack-Signature", "v0=00"), *signed(body)]
    assert screen(body, headers, VERIFIER) is None
    assert bolt_content_type([("content-type", JSON), ("Content-Type", f"{FORM}; x=1")]) == FORM
    assert bolt_content_type([]) is None


def test_a_refusal_quotes_nothing_of_the_body() -> None:
    body = interaction({**REAL["block_actions"], "user": "U-MARKER-9"})
    refusal = screen(body, signed(body), VERIFIER)
    assert refusal is not None and refusal.status == 400
    assert "MARKER" not in refusal.reason and refusal.reason == (
        "user must be an object with a string id"
    )


# -- parsing as Bolt parses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "content_type", "expected"),
    [
        ("", FORM, {}),
        ("text=list&user_id=U1", FORM, {"text": "list", "user_id": "U1"}),
        ("a&b=", FORM, {"a": "", "b": ""}),
        ('{"type": "x"}', FORM, {"type": "x"}),  # a leading { is JSON, whatever the type
        ('{"type": "x"}', None, {"type": "x"}),
        ('payload={"type": "x"}', FORM, {"type": "x"}),
    ],
)
def test_bodies_parse_exactly_as_bolt_parses_them(
    text: str, content_type: str | None, expected: dict[str, Any]
) -> None:
    assert parse_like_bolt(text, content_type).body == expected == parse_body(text, content_type)


def test_a_command_that_mentions_payload_reaches_bolt_as_the_command_it_is() -> None:
    # Bolt takes any form containing the text "payload" for an interaction, and finds none.
    text = "command=/aicore&text=start+payload-train&user_id=U1&channel_id=C1"
    assert parse_body(text, FORM) == {}
    assert parse_like_bolt(text, FORM).body["text"] == "start payload-train"
    request = repaired(AsyncBoltRequest(body=text, headers={"content-type": FORM}))
    assert request.body["command"] == "/aicore" and request.raw_body == text
    assert request.context.user_id == "U1" and request.context.channel_id == "C1"


def test_json_with_parameters_in_its_content_type_is_a_form_to_bolt() -> None:
    # Bolt compares the type before ";" exactly: this is form-decoded, as Bolt does.
    parsed = parse_like_bolt(" [1]", f"{JSON}; charset=utf-8")
    assert parsed.body == parse_body(" [1]", f"{JSON}; charset=utf-8") and parsed.form


def nested(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("payload={nope", "payload is not valid JSON"),
        ('payload="text"', "payload is JSON but not an object"),
        ("payload=[1]", "payload is JSON but not an object"),
        ("payload=null", "payload is JSON but not an object"),
        ('{"n": NaN}', "request body is not valid JSON"),
        ('{"n": -Infinity}', "request body is not valid JSON"),
        ('{"n": ' + "7" * 5000 + "}", "request body is not valid JSON"),
        ('{"a":' + "[" * 100_000, "request body nests deeper than 64 levels"),  # RecursionError
        (nested(MAX_JSON_DEPTH + 1), "request body nests deeper than 64 levels"),
        ('{"a": "\\ud800"}', "request body has an invalid string"),
        ('{"\\udfff": 1}', "request body has an invalid string"),
    ],
)
def test_bodies_bolt_cannot_parse_or_store_are_malformed(text: str, reason: str) -> None:
    with pytest.raises(Malformed) as refused:
        parse_like_bolt(text, FORM)
    assert str(refused.value) == reason


def test_nesting_up_to_the_limit_and_escaped_emoji_are_fine() -> None:
    assert parse_like_bolt(nested(MAX_JSON_DEPTH), JSON).body
    assert parse_like_bolt('{"e": "\\ud83d\\ude80"}', JSON).body == {"e": "\U0001f680"}


# -- shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(REAL))
def test_real_payloads_of_every_kind_pass(kind: str) -> None:
    check_shape(REAL[kind])


def test_a_real_command_form_and_an_ssl_check_pass() -> None:
    check_shape(COMMAND, form=True)
    check_shape({"ssl_check": "1", "token": "t"}, form=True)


def with_(kind: str, **changes: Any) -> dict[str, Any]:
    return {**REAL[kind], **changes}


def with_view(kind: str, **changes: Any) -> dict[str, Any]:
    return with_(kind, view={**REAL[kind]["view"], **changes})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({**COMMAND, "user_id": 5}, "a slash command needs a string user_id"),
        ({**COMMAND, "channel_id": None}, "a slash command needs a string channel_id"),
        ({**COMMAND, "text": ["list"]}, "slash command fields are strings"),
        (with_("block_actions", actions=[]), "actions must be a non-empty list"),
        (with_("block_actions", actions={"action_id": "a"}), "actions must be a non-empty list"),
        (with_("block_actions", actions=[{"action_id": 1}]), "actions must be a non-empty list"),
        (with_("block_actions", user="U1"), "user must be an object with a string id"),
        (with_("block_actions", user={"name": "x"}), "user must be an object with a string id"),
        (with_("block_actions", channel="C1"), "channel must be an object"),
        (with_("block_actions", container=[]), "container must be an object"),
        (with_("view_submission", view=None), "view must be an object"),
        (with_view("view_submission", callback_id=None), "view must be an object with a string"),
        (with_view("view_submission", type=None), "a submitted view needs a string type"),
        (with_view("view_submission", type="workflow_step"), "needs workflow_step"),
        (with_view("view_submission", private_metadata=1), "private_metadata must be a string"),
        (with_view("view_submission", state=[]), "state must be an object"),
        (with_view("view_submission", state={"values": 1}), "values must be an object"),
        (with_("view_closed", user=None), "user must be an object with a string id"),
        (with_("block_suggestion", action_id=None), "a block suggestion needs a string action_id"),
        (with_("block_suggestion", user=[]), "user must be a string or an object"),
        (with_("event_callback", event="app_mention"), "event must be an object"),
        (with_("event_callback", event={"user": "U1"}), "an event needs a string type"),
        (with_("event_callback", event={"type": "x", "function": 1}), "function must be an"),
        (with_("event_callback", event={"type": "x", "function": None}), "function must be an"),
        (with_("url_verification", challenge=1), "a URL verification needs a string challenge"),
        ({"type": "dialog_suggestion", "callback_id": "c", "action_id": 1}, "action_id must be"),
        ({"type": "interactive_message", "callback_id": "c"}, "actions must be a non-empty"),
        ({"type": "workflow_step_edit", "callback_id": "c"}, "needs workflow_step"),
        # What build_context reads of every payload, and of the objects it descends into.
        ({"team": 5}, "team must be a string or an object"),
        ({"enterprise": True}, "enterprise must be a string or an object"),
        ({"event": {"type": "x", "channel": 5}, "type": "event_callback"}, "channel must be"),
        ({"event": {"type": "x", "message": {"user": 1}}}, "user must be a string or an"),
        ({"authorizations": "T1"}, "authorizations must be a list of objects"),
        ({"authorizations": [{"team": 1}]}, "team must be a string or an object"),
        ({"response_urls": None}, "response_urls must be a list of objects"),
        ({"response_urls": [{}, {}]}, "Bolt takes at most one of response_urls"),
        ({"event": None}, "event must be an object"),
        ({"view": "V1"}, "view must be an object"),
    ],
)
def test_shapes_bolt_or_the_listeners_would_raise_on_are_malformed(
    body: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Malformed, match=reason.replace("(", r"\(")):
        check_shape(body)


def test_a_form_without_payload_must_be_a_slash_command() -> None:
    without_command = {k: v for k, v in COMMAND.items() if k != "command"}
    with pytest.raises(Malformed, match="a slash command needs a string command"):
        check_shape(without_command, form=True)
    check_shape(without_command)  # as JSON it is no kind Bolt knows: Bolt answers 404
    with pytest.raises(Malformed, match="a slash command needs a string command"):
        check_shape({"type": "block_actions", "user": "U1"}, form=True)


def test_two_response_urls_are_fine_next_to_a_response_url() -> None:
    # build_context takes response_url then, and never looks at the list.
    check_shape(with_("view_submission", response_url="u", response_urls=[{}, {}]))


# -- property: whatever passes, Bolt reads without error ---------------------------------------

keys = st.sampled_from(
    ["type", "user", "channel", "team", "enterprise", "authorizations", "event", "message",
     "previous_message", "item", "actions", "action_id", "view", "callback_id", "command",
     "user_id", "channel_id", "response_url", "response_urls", "container", "state",
     "private_metadata", "challenge", "workflow_step", "function", "function_execution_id",
     "is_ext_shared_channel", "assistant_thread", "id", "subtype", "channel_type", "thread_ts"]
) | st.text(max_size=6)  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=10)
    | st.sampled_from(
        [*REAL, "run_logs", "/aicore", "message", "im", "workflow_step", "function_executed"]
    )
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=16,
)


@st.composite
def changed_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A real payload with up to three fields, anywhere in it, replaced or added."""
    root: dict[str, Any] = json.loads(json.dumps(draw(st.sampled_from(list(REAL.values())))))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        node = root
        while draw(st.booleans()):
            inner = sorted(k for k, v in node.items() if isinstance(v, dict))
            if not inner:
                break
            node = node[draw(st.sampled_from(inner))]
        node[draw(keys)] = draw(json_values)
    return root


def bodies() -> st.SearchStrategy[tuple[str, str | None]]:
    objects = changed_payloads() | st.dictionaries(keys, json_values, max_size=6)
    return st.one_of(
        objects.map(lambda o: (urlencode({"payload": json.dumps(o)}), FORM)),
        objects.map(lambda o: (json.dumps(o), JSON)),
        st.dictionaries(keys, st.text(max_size=10) | st.sampled_from(["/aicore", "1"])).map(
            lambda fields: (urlencode(fields), FORM)
        ),
        st.tuples(st.text(max_size=60), st.sampled_from([FORM, JSON, None])),
    )


def bolt_reads(text: str, content_type: str | None) -> None:
    """What Bolt does with a body before and while it matches listeners, minus the I/O."""
    headers: dict[str, str | Sequence[str]] = {"content-type": content_type} if content_type else {}
    AsyncBoltRequest(body=text, headers=headers)  # parses and builds the context
    request = BoltRequest(body=text, headers=headers)
    body = request.body
    for to in (
        bolt_payloads.to_options,
        bolt_payloads.to_shortcut,
        bolt_payloads.to_action,
        bolt_payloads.to_view,
        bolt_payloads.to_command,
        bolt_payloads.to_event,
        bolt_payloads.to_message,
        bolt_payloads.to_step,
    ):
        to(body)  # the listener arguments, built for whichever listener matches
    warning_unhandled_request(request)  # what Bolt logs when no listener matches
    response = BoltResponse(status=200)
    for matcher in (
        builtins.command("/aicore"),
        builtins.action("run_logs"),
        builtins.view("protected_confirm"),
        builtins.options("pick"),
        builtins.event("app_mention"),
        builtins.shortcut("s"),
    ):
        matcher.matches(request, response)


@cases(ci=1000, local=100)
@given(request=bodies())
def test_whatever_passes_bolt_parses_the_same_and_reads_without_error(
    request: tuple[str, str | None],
) -> None:
    text, content_type = request
    try:
        parsed = parse_like_bolt(text, content_type)
        check_shape(parsed.body, form=parsed.form)
    except Malformed:
        event("refused")
        return
    event("passed")
    assert parsed.body == parse_body(text, content_type)
    bolt_reads(text, content_type)
