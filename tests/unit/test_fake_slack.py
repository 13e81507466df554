"""Tests for the Slack-side test infrastructure: FakeSlack, ServedApp and slack_signing.

Every Web API test goes through a real ``AsyncWebClient`` and a real socket (``ServedApp``),
so the fake is proven against the same HTTP path the bot uses.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.support.fake_slack import FakeSlack
from tests.support.servers import ServedApp, free_port
from tests.support.slack_signing import (
    block_actions_body,
    sign,
    slash_command_body,
    view_submission_body,
)

TOKEN = "xoxb-test-token"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C123"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.fixture
def fake() -> FakeSlack:
    return FakeSlack(bot_token=TOKEN)


@pytest.fixture
def served(fake: FakeSlack) -> Iterator[ServedApp]:
    with ServedApp(fake.app) as served_app:
        yield served_app


@pytest.fixture
async def client(served: ServedApp) -> AsyncIterator[AsyncWebClient]:
    # No shared aiohttp session: slack_sdk then opens and closes one per request, so nothing
    # is left open to raise ResourceWarning under filterwarnings=error.
    yield AsyncWebClient(token=TOKEN, base_url=f"{served.url}/api/")


# ---------------------------------------------------------------------------- ServedApp


def test_served_app_listens_and_stops(fake: FakeSlack) -> None:
    with ServedApp(fake.app) as served_app:
        port = served_app.port
        assert port > 0
        assert served_app.url == f"http://127.0.0.1:{port}"
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# ---------------------------------------------------------------------------- auth


async def test_auth_test_and_bad_token(fake: FakeSlack, served: ServedApp) -> None:
    good = AsyncWebClient(token=TOKEN, base_url=f"{served.url}/api/")
    resp = await good.auth_test()
    assert resp["user_id"] == "UBOT"
    assert resp["team_id"] == "T0TEST"
    assert resp["bot_id"]

    bad = AsyncWebClient(token="xoxb-wrong", base_url=f"{served.url}/api/")
    with pytest.raises(SlackApiError) as info:
        await bad.chat_postMessage(channel=CHANNEL, text="hi")
    assert info.value.response["error"] == "invalid_auth"
    assert fake.messages(CHANNEL) == []
    assert fake.calls_to("chat.postMessage")[0].error == "invalid_auth"


async def test_unknown_method(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as info:
        await client.api_call("chat.doesNotExist", json={"x": 1})
    assert info.value.response["error"] == "unknown_method"


# ---------------------------------------------------------------------------- messages


async def test_post_and_update_message(fake: FakeSlack, client: AsyncWebClient) -> None:
    blocks = [_section("*Run* exec-1 started")]
    posted = await client.chat_postMessage(channel=CHANNEL, text="exec-1 started", blocks=blocks)
    ts = posted["ts"]
    assert posted["channel"] == CHANNEL
    assert ts == "1700000000.000100"

    call = fake.calls_to("chat.postMessage")[0]
    assert call.args["blocks"] == blocks
    assert call.at <= time.monotonic()

    # Text only: blocks are kept, as on Slack.
    await client.chat_update(channel=CHANNEL, ts=ts, text="exec-1 running")
    [msg] = fake.messages(CHANNEL)
    assert (msg.text, msg.blocks, msg.updates) == ("exec-1 running", blocks, 1)

    # blocks=[] clears them.
    await client.chat_update(channel=CHANNEL, ts=ts, text="done", blocks=[])
    [msg] = fake.messages(CHANNEL)
    assert (msg.text, msg.blocks, msg.updates) == ("done", [], 2)

    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel=CHANNEL, ts="1699999999.000001", text="x")
    assert info.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel="C-OTHER", ts=ts, text="x")
    assert info.value.response["error"] == "message_not_found"


async def test_ts_are_unique_and_increasing(fake: FakeSlack, client: AsyncWebClient) -> None:
    results = await asyncio.gather(
        *(client.chat_postMessage(channel=CHANNEL, text=f"m{i}") for i in range(20))
    )
    stamps = [r["ts"] for r in results]
    assert len(set(stamps)) == 20
    listed = [m.ts for m in fake.messages(CHANNEL)]
    assert listed == sorted(listed, key=float)
    assert all(len(ts.split(".")[1]) == 6 for ts in listed)


async def test_form_encoded_body_with_json_strings(fake: FakeSlack, client: AsyncWebClient) -> None:
    blocks = [_section("from a form")]
    metadata = {"event_type": "run_started", "event_payload": {"exec_id": "e1"}}
    await client.api_call(
        "chat.postMessage",
        data={
            "channel": CHANNEL,
            "text": "form",
            "blocks": json.dumps(blocks),
            "metadata": json.dumps(metadata),
        },
    )
    args = fake.calls_to("chat.postMessage")[0].args
    assert args["blocks"] == blocks
    assert args["metadata"] == metadata
    [msg] = fake.messages(CHANNEL)
    assert msg.blocks == blocks
    assert msg.metadata == metadata


async def test_threads_broadcast_history_and_replies(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    metadata = {"event_type": "aicore_run", "event_payload": {"exec_id": "e1"}}
    parent = (await client.chat_postMessage(channel=CHANNEL, text="parent", metadata=metadata))[
        "ts"
    ]
    r1 = (await client.chat_postMessage(channel=CHANNEL, text="reply 1", thread_ts=parent))["ts"]
    r2 = (
        await client.chat_postMessage(
            channel=CHANNEL, text="reply 2", thread_ts=parent, reply_broadcast=True
        )
    )["ts"]

    assert [m.ts for m in fake.thread(CHANNEL, parent)] == [r1, r2]
    assert [m.reply_broadcast for m in fake.thread(CHANNEL, parent)] == [False, True]
    assert [m.ts for m in fake.messages(CHANNEL)] == [parent, r1, r2]
    assert [m.ts for m in fake.messages(CHANNEL, include_replies=False)] == [parent, r2]

    # History: newest first, only what shows in the channel, metadata only on request.
    history = await client.conversations_history(channel=CHANNEL)
    assert [m["ts"] for m in history["messages"]] == [r2, parent]
    assert "metadata" not in history["messages"][1]
    assert history["messages"][1]["reply_count"] == 2
    assert history["messages"][0]["subtype"] == "thread_broadcast"
    history = await client.conversations_history(channel=CHANNEL, include_all_metadata=True)
    assert history["messages"][1]["metadata"] == metadata

    # oldest is exclusive by default; limit pages with a cursor.
    newer = await client.conversations_history(channel=CHANNEL, oldest=parent)
    assert [m["ts"] for m in newer["messages"]] == [r2]
    page = await client.conversations_history(channel=CHANNEL, limit=1)
    assert page["has_more"] is True
    rest = await client.conversations_history(
        channel=CHANNEL, limit=1, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in rest["messages"]] == [parent]
    assert rest["has_more"] is False

    replies = await client.conversations_replies(channel=CHANNEL, ts=parent)
    assert [m["ts"] for m in replies["messages"]] == [parent, r1, r2]
    assert all(m["thread_ts"] == parent for m in replies["messages"])
    with pytest.raises(SlackApiError) as info:
        await client.conversations_replies(channel=CHANNEL, ts="1600000000.000001")
    assert info.value.response["error"] == "thread_not_found"


async def test_ephemeral(fake: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.chat_postEphemeral(channel=CHANNEL, user="U42", text="only you")
    ts = resp["message_ts"]
    [msg] = fake.find(channel=CHANNEL, text_contains="only you")
    assert (msg.ts, msg.ephemeral, msg.user) == (ts, True, "U42")

    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel=CHANNEL, ts=ts, text="edited")
    assert info.value.response["error"] == "cant_update_message"
    with pytest.raises(SlackApiError):
        await client.api_call("chat.postEphemeral", json={"channel": CHANNEL, "text": "no user"})

    history = await client.conversations_history(channel=CHANNEL)
    assert history["messages"] == []


async def test_delete_permalink_and_find_in_blocks(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = (
        await client.chat_postMessage(
            channel=CHANNEL, text="fallback", blocks=[_section("exec *e-77* failed")]
        )
    )["ts"]
    assert [m.ts for m in fake.find(text_contains="e-77")] == [ts]
    assert fake.find(channel="C-OTHER", text_contains="e-77") == []

    link = await client.chat_getPermalink(channel=CHANNEL, message_ts=ts)
    assert link["permalink"].endswith(f"/archives/{CHANNEL}/p{ts.replace('.', '')}")

    await client.chat_delete(channel=CHANNEL, ts=ts)
    assert fake.messages(CHANNEL) == []
    with pytest.raises(SlackApiError) as info:
        await client.chat_delete(channel=CHANNEL, ts=ts)
    assert info.value.response["error"] == "message_not_found"


async def test_block_kit_limits(fake: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(
            channel=CHANNEL, text="x", blocks=[_section(str(i)) for i in range(51)]
        )
    assert info.value.response["error"] == "invalid_blocks"
    await client.chat_postMessage(
        channel=CHANNEL, text="x", blocks=[_section(str(i)) for i in range(50)]
    )

    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel=CHANNEL, text="y" * 40_001)
    assert info.value.response["error"] == "msg_too_long"
    # Raw api_call: chat_postMessage() itself warns (an error here) when text is missing.
    with pytest.raises(SlackApiError) as info:
        await client.api_call("chat.postMessage", json={"channel": CHANNEL})
    assert info.value.response["error"] == "no_text"
    assert len(fake.messages(CHANNEL)) == 1


# ---------------------------------------------------------------------------- views


async def test_views_open_update_push(fake: FakeSlack, client: AsyncWebClient) -> None:
    modal = {
        "type": "modal",
        "callback_id": "start_run",
        "title": {"type": "plain_text", "text": "Start run"},
        "blocks": [_section("step 1")],
    }
    opened = await client.views_open(trigger_id="1337.42.abcd", view=modal)
    view_id = opened["view"]["id"]
    assert view_id.startswith("V")
    assert fake.views[view_id]["callback_id"] == "start_run"

    updated = await client.views_update(
        view_id=view_id,
        hash=opened["view"]["hash"],
        view={**modal, "blocks": [_section("step 2")]},
    )
    assert updated["view"]["id"] == view_id
    assert fake.views[view_id]["blocks"] == [_section("step 2")]

    # A stale hash means another update won the race.
    with pytest.raises(SlackApiError) as info:
        await client.views_update(view_id=view_id, hash=opened["view"]["hash"], view=modal)
    assert info.value.response["error"] == "hash_conflict"

    pushed = await client.views_push(trigger_id="1337.42.efgh", view=modal)
    assert pushed["view"]["id"] != view_id
    assert set(fake.views) == {view_id, pushed["view"]["id"]}

    with pytest.raises(SlackApiError) as info:
        await client.api_call("views.open", json={"view": modal})
    assert info.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as info:
        await client.views_update(view_id="V-NOPE", view=modal)
    assert info.value.response["error"] == "not_found"


# ---------------------------------------------------------------------------- failures


async def test_429_surfaces_retry_after_without_handler(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.fail("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel=CHANNEL, text="hi")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    assert info.value.response["error"] == "ratelimited"
    # Only `times` calls fail; the next one goes through.
    await client.chat_postMessage(channel=CHANNEL, text="hi")
    assert len(fake.messages(CHANNEL)) == 1


async def test_a_failure_for_one_channel_is_taken_only_by_a_call_about_it(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.fail("chat.postMessage", status=429, retry_after=7, channel="C0OTHER")
    await client.chat_postMessage(channel=CHANNEL, text="not held")
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="C0OTHER", text="held")
    assert info.value.response.status_code == 429
    assert [m.text for m in fake.messages(CHANNEL)] == ["not held"]
    assert fake.messages("C0OTHER") == []


async def test_rate_limit_retry_handler_retries_through_429(
    fake: FakeSlack, served: ServedApp
) -> None:
    client = AsyncWebClient(
        token=TOKEN,
        base_url=f"{served.url}/api/",
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    # Retry-After 0 keeps the test fast: the handler sleeps Retry-After + random() (< 1 s).
    fake.fail("chat.postMessage", status=429, retry_after=0, times=1)
    resp = await client.chat_postMessage(channel=CHANNEL, text="eventually")
    assert resp["ok"] is True

    calls = fake.calls_to("chat.postMessage")
    assert [(c.status, c.error) for c in calls] == [(429, "ratelimited"), (200, None)]
    assert calls[1].at >= calls[0].at
    [msg] = fake.messages(CHANNEL)
    assert msg.text == "eventually"


async def test_server_errors(fake: FakeSlack, served: ServedApp, client: AsyncWebClient) -> None:
    fake.fail("chat.update", status=500)
    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel=CHANNEL, ts="1700000000.000100", text="x")
    assert info.value.response.status_code == 500

    retrying = AsyncWebClient(
        token=TOKEN,
        base_url=f"{served.url}/api/",
        retry_handlers=[
            AsyncServerErrorRetryHandler(
                max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
            )
        ],
    )
    fake.fail("chat.postMessage", status=503)
    resp = await retrying.chat_postMessage(channel=CHANNEL, text="after outage")
    assert resp["ok"] is True
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [503, 200]


async def test_injected_api_error(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.fail("chat.update", error="edit_window_closed", times=2)
    ts = (await client.chat_postMessage(channel=CHANNEL, text="a"))["ts"]
    for _ in range(2):
        with pytest.raises(SlackApiError) as info:
            await client.chat_update(channel=CHANNEL, ts=ts, text="b")
        assert info.value.response.status_code == 200
        assert info.value.response["error"] == "edit_window_closed"
    await client.chat_update(channel=CHANNEL, ts=ts, text="b")
    assert fake.messages(CHANNEL)[0].text == "b"


async def test_not_in_channel_until_join(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.not_in_channel("C-PRIVATE")
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="C-PRIVATE", text="hello")
    assert info.value.response["error"] == "not_in_channel"
    assert fake.messages("C-PRIVATE") == []

    await client.conversations_join(channel="C-PRIVATE")
    await client.chat_postMessage(channel="C-PRIVATE", text="hello")
    assert [m.text for m in fake.messages("C-PRIVATE")] == ["hello"]


# ---------------------------------------------------------------------------- response_url


async def test_response_url_recording(fake: FakeSlack, served: ServedApp) -> None:
    url_a = fake.response_url(served.url)
    url_b = fake.response_url(served.url)
    assert url_a != url_b
    assert url_a.startswith(f"{served.url}/response/")

    webhook_a = AsyncWebhookClient(url_a)
    resp = await webhook_a.send(text="working on it", response_type="ephemeral")
    assert resp.status_code == 200
    await AsyncWebhookClient(url_b).send(text="other", replace_original=True)
    await webhook_a.send(text="done", replace_original=True)

    assert [r["text"] for r in fake.responses] == ["working on it", "other", "done"]
    assert [r["text"] for r in fake.responses_for(url_a)] == ["working on it", "done"]
    assert fake.responses_for(url_b)[0]["replace_original"] is True
    assert fake.responses_for(url_b)[0]["_response_id"] == int(url_b.rsplit("/", 1)[1])

    # Slack allows 5 posts per response_url; the 6th is refused.
    for i in range(3):
        await webhook_a.send(text=f"more {i}")
    refused = await webhook_a.send(text="too many")
    assert refused.status_code == 404
    assert len(fake.responses_for(url_a)) == 5
    assert fake.calls_to("response_url")[-1].error == "used_url"


# ---------------------------------------------------------------------------- waiting


async def test_wait_for(fake: FakeSlack, client: AsyncWebClient) -> None:
    async def post_later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel=CHANNEL, text="late")

    task = asyncio.create_task(post_later())
    await fake.wait_for(lambda: bool(fake.find(text_contains="late")), timeout=5)
    await task

    with pytest.raises(AssertionError, match=r"chat\.postMessage -> ok"):
        await fake.wait_for(lambda: False, timeout=0.1)


def test_wait_for_sync(fake: FakeSlack) -> None:
    fake.wait_for_sync(lambda: True)
    with pytest.raises(AssertionError, match="0 call"):
        fake.wait_for_sync(lambda: False, timeout=0.05)


# ---------------------------------------------------------------------------- signing


def test_slash_command_signature_verifies() -> None:
    body = slash_command_body(text="run status e-1", response_url="http://x/response/3")
    headers = sign(SECRET, body)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"

    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    assert form["command"] == "/aicore"
    assert form["text"] == "run status e-1"
    assert form["response_url"] == "http://x/response/3"
    assert (form["user_id"], form["channel_id"], form["team_id"]) == ("U123", "C123", "T0TEST")

    # Tampering, a wrong secret and a replayed (stale) timestamp all fail.
    assert not verifier.is_valid_request(body + b"&x=1", headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)
    stale = sign(SECRET, body, timestamp=int(time.time()) - 301)
    assert not verifier.is_valid_request(body, stale)


def _payload(body: bytes) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(parse_qs(body.decode())["payload"][0])
    return decoded


def test_block_actions_body_shape_and_signature() -> None:
    body = block_actions_body(
        action_id="cancel_run", value='{"exec_id":"e1"}', message={"text": "run e1"}
    )
    assert SignatureVerifier(SECRET).is_valid_request(body, sign(SECRET, body))

    payload = _payload(body)
    assert payload["type"] == "block_actions"
    assert payload["user"] == {
        "id": "U123",
        "username": "alice",
        "name": "alice",
        "team_id": "T0TEST",
    }
    assert payload["team"]["id"] == "T0TEST"
    assert payload["channel"]["id"] == "C123"
    assert payload["container"]["message_ts"] == "1700000000.000100"
    assert payload["message"]["ts"] == "1700000000.000100"
    assert payload["message"]["text"] == "run e1"
    [action] = payload["actions"]
    assert action["action_id"] == "cancel_run"
    assert action["value"] == '{"exec_id":"e1"}'
    assert (action["type"], action["block_id"]) == ("button", "b")
    assert payload["response_url"] and payload["trigger_id"] and payload["api_app_id"]

    ephemeral = _payload(block_actions_body(action_id="a", value="v", message_ts=None))
    assert "message" not in ephemeral
    assert ephemeral["container"]["is_ephemeral"] is True


def test_view_submission_body() -> None:
    values = {"exec": {"exec_id": {"type": "plain_text_input", "value": "e1"}}}
    body = view_submission_body(callback_id="start_run", values=values, private_metadata="pm")
    assert SignatureVerifier(SECRET).is_valid_request(body, sign(SECRET, body))
    payload = _payload(body)
    assert payload["type"] == "view_submission"
    assert payload["view"]["callback_id"] == "start_run"
    assert payload["view"]["state"]["values"] == values
    assert payload["view"]["private_metadata"] == "pm"


async def test_user_groups_and_direct_messages_answer_as_slack_does() -> None:
    import httpx

    groups = [{"id": "S1", "handle": "ml-platform", "name": "ML platform", "users": ["U2"]}]
    fake = FakeSlack(bot_token="xoxb-t", usergroups=groups)
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://slack") as http:

        async def call(method: str, **args: str) -> Any:
            return (await http.post(f"/api/{method}", data={"token": "xoxb-t", **args})).json()

        listed = await call("usergroups.list", include_users="true")
        members = await call("usergroups.users.list", usergroup="S1")
        unknown = await call("usergroups.users.list", usergroup="S9")
        opened = await call("conversations.open", users="U2")
        again = await call("conversations.open", users="U2")
    assert listed["usergroups"][0]["handle"] == "ml-platform"
    assert listed["usergroups"][0]["users"] == ["U2"]
    assert members == {"ok": True, "users": ["U2"]}
    assert unknown == {"ok": False, "error": "no_such_subteam"}
    assert opened["channel"]["id"] == again["channel"]["id"] == fake.direct_channel("U2")


# ---------------------------------------------------------------------------- file uploads


async def test_files_upload_v2_shares_the_bytes_in_the_thread(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = await client.chat_postMessage(channel=CHANNEL, text="card")
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    await client.files_upload_v2(
        channel=CHANNEL,
        thread_ts=parent["ts"],
        content=png,
        filename="e1-metrics.png",
        title="AI Core run e1: metrics",
        initial_comment="Metrics of `e1`",
    )
    methods = [c.method for c in fake.calls]
    assert methods[-3:] == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    (shared,) = fake.thread(CHANNEL, parent["ts"])
    assert shared.text == "Metrics of `e1`"
    (file,) = shared.files
    assert (file["name"], file["title"]) == ("e1-metrics.png", "AI Core run e1: metrics")
    assert fake.file_bytes(file["id"]) == png
    replies = await client.conversations_replies(channel=CHANNEL, ts=parent["ts"])
    assert replies["messages"][1]["files"][0]["name"] == "e1-metrics.png"


async def test_an_upload_is_completed_once_and_only_after_its_bytes(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    url = await client.files_getUploadURLExternal(filename="a.png", length=4)
    files = [{"id": url["file_id"], "title": "a"}]
    with pytest.raises(SlackApiError, match="file_upload_not_completed"):
        await client.files_completeUploadExternal(files=files, channel_id=CHANNEL)
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        await client.files_getUploadURLExternal(filename="b.png", length=0)
    assert fake.file_bytes(url["file_id"]) is None


async def test_an_upload_url_keeps_the_prefix_the_fake_is_mounted_under() -> None:
    # The sandbox serves the local Slack under /sandbox/slack; the upload URL must too.
    mounted = FakeSlack(bot_token=TOKEN)
    app = Starlette(routes=[Mount("/sandbox/slack", app=mounted.app)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://local") as http:
        answer = await http.post(
            "/sandbox/slack/api/files.getUploadURLExternal",
            data={"filename": "a.png", "length": "3"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        url = answer.json()["upload_url"]
        assert url.startswith("http://local/sandbox/slack/upload/F")
        assert (await http.post(url, content=b"abc")).status_code == 200
    assert mounted.file_bytes(answer.json()["file_id"]) == b"abc"
