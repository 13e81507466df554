"""The local sandbox through ``python -m bot`` with no Slack credentials (no browser needed).

It starts with one line saying where the page is; everything runs through the real signed
``/slack/events``; it answers this machine only; and with real Slack credentials none of it
exists.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.process import BotProcess
from tests.support.sandbox import running_sandbox

ALICE, BOB, CAROL = "U0SANDBOX1", "U0SANDBOX2", "U0SANDBOX3"
TRAINING = "C0SANDBOX1"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[BotProcess]:
    with running_sandbox() as bot:
        yield bot


def state(bot: BotProcess, user: str = ALICE) -> dict[str, Any]:
    response = httpx.get(f"{bot.url}/sandbox/api/state", params={"user": user})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def command(bot: BotProcess, text: str, user: str = ALICE) -> dict[str, Any]:
    response = httpx.post(
        f"{bot.url}/sandbox/api/command",
        json={"user": user, "channel": TRAINING, "text": text},
        timeout=10,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def wait_for_message(bot: BotProcess, contains: str, user: str = ALICE) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for message in state(bot, user)["messages"][TRAINING]:
            if contains in message["text"] or contains in str(message["blocks"]):
                return message
        time.sleep(0.1)  # the page would get an event; the test has only the state to poll
    raise AssertionError(f"no message with {contains!r}: {state(bot, user)['messages']}")


def test_it_starts_with_one_line_naming_the_page_and_what_to_set(sandbox: BotProcess) -> None:
    first = sandbox.output[0]
    assert f"open {sandbox.url}/" in first
    assert "SLACK_BOT_TOKEN" in first and "SLACK_SIGNING_SECRET" in first
    assert httpx.get(f"{sandbox.url}/").status_code == 200


def test_a_command_from_the_page_runs_the_whole_signed_path(sandbox: BotProcess) -> None:
    answer = command(sandbox, "/aicore start demo-train")
    assert answer["status"] == 200
    card = wait_for_message(sandbox, "is COMPLETED")
    assert not card["ephemeral"]
    assert "started aicore" in sandbox.log()


def test_the_optimization_demos_show_both_outcomes(sandbox: BotProcess) -> None:
    command(sandbox, "/aicore start demo-optimize")
    command(sandbox, "/aicore start demo-optimize-flat")
    deadline = time.monotonic() + 60
    summaries: list[str] = []
    while time.monotonic() < deadline and len(summaries) < 2:
        messages = state(sandbox)["messages"][TRAINING]
        summaries = [m["text"] for m in messages if "Prompt optimization results" in m["text"]]
        time.sleep(0.2)  # the page would get an event; the test has only the state to poll
    assert len(summaries) == 2, summaries
    won = next(t for t in summaries if ":white_check_mark:" in t)
    lost = next(t for t in summaries if t is not won)
    assert won.count(":white_check_mark:") == 2 and "answer-ticket-gpt4o" in won
    assert lost.count("did not beat the base prompt") == 2


def test_acting_as_the_guest_shows_the_example_policys_refusals(sandbox: BotProcess) -> None:
    assert "ACCESS_POLICY is not set" not in sandbox.log()  # the example policy is in force
    answer = command(sandbox, "/aicore start demo-train", user=CAROL)
    assert answer["status"] == 200
    refusal = wait_for_message(sandbox, "does not let you *start*", user=CAROL)
    assert refusal["ephemeral"]
    assert "resource group `default`" in refusal["text"]
    command(sandbox, "/aicore list", user=CAROL)  # looking is allowed
    wait_for_message(sandbox, "AI Core runs", user=CAROL)


def test_slack_events_still_refuse_an_unsigned_request(sandbox: BotProcess) -> None:
    response = httpx.post(
        f"{sandbox.url}/slack/events",
        content="command=/aicore&text=stop+abcd1234&user_id=U1&channel_id=C1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 401


def test_ephemeral_answers_show_to_whoever_asked_only(sandbox: BotProcess) -> None:
    command(sandbox, "/aicore help", user=BOB)
    wait_for_message(sandbox, "SAP AI Core executions", user=BOB)
    alice_sees = [m["text"] for m in state(sandbox, ALICE)["messages"][TRAINING]]
    assert not any("SAP AI Core executions" in text for text in alice_sees)


def test_the_page_refuses_other_hosts_and_non_json_bodies(sandbox: BotProcess) -> None:
    rebound = httpx.get(f"{sandbox.url}/sandbox/api/state", headers={"Host": "evil.example"})
    assert rebound.status_code == 403
    form = httpx.post(
        f"{sandbox.url}/sandbox/api/command",
        content="user=U0SANDBOX1&channel=C0SANDBOX1&text=/aicore+help",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 400


def test_it_listens_on_the_loopback_interface_only(sandbox: BotProcess) -> None:
    port = int(sandbox.url.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this picks the outward address
        outward = probe.getsockname()[0]
    if outward.startswith("127."):
        pytest.skip("this machine has no address but the loopback one")
    with pytest.raises(OSError), socket.create_connection((outward, port), timeout=2):
        pass


def test_with_slack_credentials_no_sandbox_route_exists(tmp_path: Any) -> None:
    from tests.support.fake_slack import FakeSlack
    from tests.support.servers import ServedApp

    fake = FakeSlack(bot_token="xoxb-real-token")
    with ServedApp(fake.app) as slack:
        bot = BotProcess(
            {
                "SLACK_BOT_TOKEN": "xoxb-real-token",
                "SLACK_SIGNING_SECRET": "a-real-signing-secret",
                "SLACK_API_URL": f"{slack.url}/api/",
                "BRIA_API_TOKEN": "bria-token",
                "CHATOPS_SANDBOX": '{"aicore": true, "bria": true}',
                "DATABASE_URL": f"sqlite:///{tmp_path / 'real.db'}",
            }
        ).start(timeout=60)
        try:
            for path in ("/", "/sandbox/api/state", "/sandbox/slack/api/auth.test"):
                assert httpx.get(f"{bot.url}{path}").status_code == 404, path
        finally:
            bot.stop()
