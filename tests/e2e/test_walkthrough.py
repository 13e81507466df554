"""A user's walk through /aicore against the real bot process (``python -m bot``).

The bot runs as a subprocess; the fake Slack Web API and the AI Core simulator are served on
127.0.0.1 ephemeral ports by this test process, and every request to the bot is signed as
Slack signs it. Assertions are on what the fakes recorded: what a user would see.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.blocks import ACTION_BULK_CONFIRM, ACTION_REFRESH, ACTION_STOP
from bot.providers.aicore.simulator import AICoreSimulator
from tests.support.bolt import SIGNING_SECRET, buttons, flatten
from tests.support.fake_slack import FakeSlack
from tests.support.process import BotProcess, SignedSlackClient
from tests.support.servers import ServedApp
from tests.support.slack_signing import sign, slash_command_body

BOT_TOKEN = "xoxb-test-token"
_channels = itertools.count(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    sim = AICoreSimulator(pending_seconds=5, running_seconds=60, stopping_seconds=2)
    sim.add_configuration("cfg-train", name="resnet-train", scenario_id="training")
    fake = FakeSlack(bot_token=BOT_TOKEN)
    db: Path = tmp_path_factory.mktemp("e2e") / "chatops.db"
    with ServedApp(sim.app) as sim_server, ServedApp(fake.app) as slack_server:
        bot = BotProcess(
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": f"{slack_server.url}/api/",
                "AICORE_CLIENT_ID": "sim-client",
                "AICORE_CLIENT_SECRET": "sim-secret",
                "AICORE_AUTH_URL": sim_server.url,  # the bot appends /oauth/token
                "AICORE_BASE_URL": sim_server.url,  # ... and /v2
                "DATABASE_URL": f"sqlite:///{db}",
                "LOG_LEVEL": "INFO",
            }
        ).start()
        client = SignedSlackClient(
            bot.url, SIGNING_SECRET, lambda: fake.response_url(slack_server.url)
        )
        try:
            yield {"sim": sim, "fake": fake, "bot": bot, "slack": client}
        finally:
            client.close()
            bot.stop()


@pytest.fixture
def channel() -> str:
    return f"CWALK{next(_channels):03d}"


def answers(fake: FakeSlack, response_url: str, count: int = 1) -> list[dict]:
    fake.wait_for_sync(lambda: len(fake.responses_for(response_url)) >= count)
    return fake.responses_for(response_url)


def card_in(fake: FakeSlack, channel: str):
    fake.wait_for_sync(lambda: fake.messages(channel, include_replies=False))
    return fake.messages(channel, include_replies=False)[0]


def test_requests_without_a_valid_signature_get_401_and_reach_nothing(world) -> None:
    fake, sim, slack = world["fake"], world["sim"], world["slack"]
    calls_before, requests_before = len(fake.calls), len(sim.requests)
    body = slash_command_body(text="start cfg-train", response_url="http://unused")
    unsigned = slack.post(body, {"Content-Type": "application/x-www-form-urlencoded"})
    tampered = slack.post(body.replace(b"cfg-train", b"cfg-other"), sign(SIGNING_SECRET, body))
    wrong_secret = slack.post(body, sign("not-the-secret", body))
    stale = slack.post(body, sign(SIGNING_SECRET, body, timestamp=int(time.time()) - 600))
    assert [r.status_code for r in (unsigned, tampered, wrong_secret, stale)] == [401] * 4
    assert len(fake.calls) == calls_before and len(sim.requests) == requests_before


def test_healthz_reports_components(world) -> None:
    response = world["slack"].http.get(f"{world['bot'].url}/healthz")
    assert response.status_code == 200
    components = response.json()["components"]
    assert components["database"] == "ok" and components["aicore"] == "configured"
    assert isinstance(components["last_polls"], dict)


def test_walkthrough_start_card_stop_by_button_and_by_command(world, channel: str) -> None:
    fake, sim, slack = world["fake"], world["sim"], world["slack"]

    # start: acked at once, then the card lands in the channel with the allowed buttons.
    ack, url = slack.command("start cfg-train", channel=channel)
    assert ack.status_code == 200 and "Starting configuration" in ack.json()["text"]
    card = card_in(fake, channel)
    assert "PENDING" in card.text and "resnet-train" in flatten(card.blocks)
    run_id = card.text.split()[2]
    assert "Started execution" in flatten(answers(fake, url)[0])

    # Running now; Refresh redraws the same card in place.
    sim.clock.advance(6)
    ack, _ = slack.click(
        ACTION_REFRESH,
        buttons(card.blocks)[ACTION_REFRESH]["value"],
        channel=channel,
        message_ts=card.ts,
    )
    assert ack.status_code == 200
    fake.wait_for_sync(lambda: "RUNNING" in fake.messages(channel, include_replies=False)[0].text)

    # stop by button: AI Core gets one PATCH and the card moves on.
    ack, url = slack.click(
        ACTION_STOP, buttons(card.blocks)[ACTION_STOP]["value"], channel=channel, message_ts=card.ts
    )
    assert ack.status_code == 200
    assert "1 accepted" in flatten(answers(fake, url)[0])
    assert len(sim.calls("PATCH", f"/lm/executions/{run_id}")) == 1
    fake.wait_for_sync(lambda: "STOPPING" in fake.messages(channel, include_replies=False)[0].text)

    # The same (now stale) button again: a clear answer and no second PATCH.
    _, url = slack.click(
        ACTION_STOP, buttons(card.blocks)[ACTION_STOP]["value"], channel=channel, message_ts=card.ts
    )
    assert "out of date" in flatten(answers(fake, url)[0])
    assert len(sim.calls("PATCH", f"/lm/executions/{run_id}")) == 1

    # stop by command, on a second run.
    other = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    _, url = slack.command(f"stop {other}", channel=channel)
    assert "1 accepted" in flatten(answers(fake, url)[0])
    assert sim.execution_status(other) == "STOPPING"


def test_walkthrough_bulk_delete_with_confirmation(world, channel: str) -> None:
    fake, sim, slack = world["fake"], world["sim"], world["slack"]
    finished = [
        sim.add_execution(configuration_id="cfg-train", status=s)
        for s in ("COMPLETED", "DEAD", "STOPPED")
    ]
    running = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    deletes_before = len([r for r in sim.requests if r.method in ("DELETE", "PATCH")])

    _, url = slack.command("delete " + " ".join([*finished, running]), channel=channel)
    question = answers(fake, url)[0]
    assert "Delete 3 AI Core runs?" in flatten(question)
    assert running in flatten(question)
    assert len([r for r in sim.requests if r.method in ("DELETE", "PATCH")]) == deletes_before

    token = buttons(question["blocks"])[ACTION_BULK_CONFIRM]["value"]
    _, url = slack.click(
        ACTION_BULK_CONFIRM, token, channel=channel, message_ts=None, ephemeral=True
    )
    assert "3 accepted, 0 refused" in flatten(answers(fake, url)[0])
    assert [sim.execution_status(e) for e in finished] == [None, None, None]
    assert sim.execution_status(running) == "RUNNING"
    bulk = sim.calls("PATCH", "/lm/executions")
    assert bulk and bulk[-1].content_type == "application/merge-patch+json"


def test_walkthrough_refusals_help_status_list_logs(world, channel: str) -> None:
    fake, sim, slack = world["fake"], world["sim"], world["slack"]
    done = sim.add_execution(configuration_id="cfg-train", status="COMPLETED")
    sim.add_logs(done, ["loading data", "epoch 1 loss=0.9", "saved model"])
    before = len(sim.requests)

    ack, _ = slack.command("help", channel=channel)
    assert "/aicore stop <executionId>" in ack.json()["text"]
    too_many = [f"run{i:05d}" for i in range(101)]
    ack, _ = slack.command("delete " + " ".join(too_many), channel=channel)
    assert "at most 100" in ack.json()["text"]
    ack, _ = slack.command("frobnicate", channel=channel)
    assert "is not a /aicore command" in ack.json()["text"]
    # Malformed input: nothing read about those runs and nothing written. (The poller keeps
    # reading the earlier tests' runs in the background, so a count of all requests would race.)
    since = sim.requests[before:]
    assert not [r for r in since if r.method != "GET" or any(i in r.path for i in too_many)]

    _, url = slack.command(f"stop {done}", channel=channel)
    assert "is *COMPLETED*" in flatten(answers(fake, url)[0])
    _, url = slack.command("status abcd9999", channel=channel)
    assert "requestId" in flatten(answers(fake, url)[0])
    assert not [r for r in sim.requests[before:] if r.method in ("PATCH", "DELETE")]

    _, url = slack.command(f"status {done}", channel=channel)
    status = answers(fake, url)[0]
    assert status["response_type"] == "ephemeral" and "COMPLETED" in flatten(status)
    _, url = slack.command("list COMPLETED", channel=channel)
    assert "COMPLETED" in flatten(answers(fake, url)[0])
    _, url = slack.command(f"logs {done} lines=2", channel=channel)
    text = flatten(answers(fake, url)[0])
    assert "epoch 1 loss=0.9" in text and "saved model" in text and "loading data" not in text


def test_no_secret_reaches_the_log(world) -> None:
    log = world["bot"].log()
    assert "sim-secret" not in log and SIGNING_SECRET not in log and BOT_TOKEN not in log
