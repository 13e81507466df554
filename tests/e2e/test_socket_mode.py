"""Socket Mode through real processes: several connections, each envelope acted on once.

``python -m bot`` runs with ``SLACK_APP_TOKEN`` against the fake Socket Mode server (part of
the fake Slack): it opens a websocket through ``apps.connections.open``, and the fake gives
each envelope to one of the open connections, redelivers one whose ack it never saw, and asks
for a reconnect with ``refresh_requested``. The HTTP endpoint stays verified.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest

from bot.providers.aicore.simulator import AICoreSimulator, ManualClock
from tests.support.bolt import SIGNING_SECRET, flatten
from tests.support.fake_slack import FakeSlack
from tests.support.fake_socket_mode import FakeSocketMode
from tests.support.process import BotProcess
from tests.support.servers import ServedApp
from tests.support.slack_signing import sign, slash_command_body, slash_command_fields

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A0TEST-1-socketmodetest"
CHANNEL = "CSOCKET"


@dataclass
class Stage:
    sim: AICoreSimulator
    fake: FakeSlack
    socket: FakeSocketMode
    slack_url: str
    env: dict[str, str]
    bots: list[BotProcess] = field(default_factory=list)

    def start(self, count: int, *args: str, **env: str) -> list[BotProcess]:
        started = [BotProcess({**self.env, **env}, args=args).start() for _ in range(count)]
        self.bots += started
        return started

    def command(self, text: str) -> tuple[str, str]:
        """A slash command as Slack sends it over the websocket; (envelope id, response url)."""
        url = self.fake.response_url(self.slack_url)
        payload = slash_command_fields(text=text, channel_id=CHANNEL, response_url=url)
        return self.socket.send("slash_commands", payload), url


@pytest.fixture
def stage(database_url: str) -> Iterator[Stage]:
    sim = AICoreSimulator(clock=ManualClock(datetime.now(UTC)), pending_seconds=3600)
    sim.add_configuration("cfg-train", name="resnet-train", scenario_id="training")
    socket = FakeSocketMode(app_token=APP_TOKEN, ack_timeout=2.0)
    fake = FakeSlack(bot_token=BOT_TOKEN, socket_mode=socket)
    with ServedApp(sim.app) as sim_server, ServedApp(fake.app, websockets=True) as slack_server:
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_API_URL": f"{slack_server.url}/api/",
            "AICORE_CLIENT_ID": "sim-client",
            "AICORE_CLIENT_SECRET": "sim-secret",
            "AICORE_AUTH_URL": sim_server.url,
            "AICORE_BASE_URL": sim_server.url,
            "DATABASE_URL": database_url,
            "POLL_INTERVAL_SECONDS": "0.5",
        }
        stage = Stage(sim, fake, socket, slack_server.url, env)
        try:
            yield stage
        finally:
            for bot in stage.bots:
                bot.stop()


def test_several_connections_share_the_envelopes_and_each_is_acted_on_once(stage: Stage) -> None:
    stage.start(2, "--role", "web")
    stage.start(1, "--role", "worker")
    stage.fake.wait_for_sync(lambda: stage.socket.live_connections == 2)
    run_ids = [stage.sim.add_execution(configuration_id="cfg-train") for _ in range(12)]
    sent = [stage.command(f"status {run_id}") for run_id in run_ids]
    for envelope_id, url in sent:
        stage.fake.wait_for_sync(lambda u=url: bool(stage.fake.responses_for(u)), timeout=20)
        assert len(stage.socket.acks(envelope_id)) == 1
    connections = {stage.socket.deliveries(e)[0].connection for e, _url in sent}
    assert len(connections) == 2, "Slack gives each envelope to one of the connections"
    for (_envelope, url), run_id in zip(sent, run_ids, strict=True):
        answers = stage.fake.responses_for(url)
        assert len(answers) == 1 and run_id in flatten(answers[0])


def test_an_envelope_whose_ack_was_lost_is_redelivered_and_done_once(stage: Stage) -> None:
    stage.start(2, "--role", "all")
    stage.fake.wait_for_sync(lambda: stage.socket.live_connections == 2)
    stage.socket.drop_next_acks(1)
    envelope_id, url = stage.command("start cfg-train")
    stage.fake.wait_for_sync(lambda: stage.socket.acked(envelope_id), timeout=20)
    deliveries = stage.socket.deliveries(envelope_id)
    assert [d.retry_attempt for d in deliveries] == [0, 1]
    stage.fake.wait_for_sync(
        lambda: any("Started execution" in flatten(r) for r in stage.fake.responses_for(url)),
        timeout=20,
    )
    stage.fake.wait_for_sync(lambda: bool(stage.fake.messages(CHANNEL)), timeout=20)
    assert len(stage.sim.calls("POST", "/lm/executions")) == 1
    cards = [m for m in stage.fake.messages(CHANNEL) if m.thread_ts is None]
    assert len(cards) == 1


def test_refresh_requested_reconnects_and_commands_still_work(stage: Stage) -> None:
    stage.start(1, "--role", "all")
    stage.fake.wait_for_sync(lambda: stage.socket.live_connections == 1)
    opened = stage.socket.opened
    stage.socket.refresh()
    stage.fake.wait_for_sync(
        lambda: stage.socket.opened > opened and stage.socket.live_connections == 1, timeout=20
    )
    run_id = stage.sim.add_execution(configuration_id="cfg-train")
    _envelope, url = stage.command(f"status {run_id}")
    stage.fake.wait_for_sync(lambda: bool(stage.fake.responses_for(url)), timeout=20)


def test_a_malformed_envelope_is_acked_and_dropped_and_the_next_one_works(stage: Stage) -> None:
    stage.start(1, "--role", "all")
    stage.fake.wait_for_sync(lambda: stage.socket.live_connections == 1)
    bad = stage.socket.send(
        "interactive",
        {"type": "block_actions", "user": {"id": "U1"}, "actions": "not-a-list", "team": {}},
    )
    stage.fake.wait_for_sync(lambda: stage.socket.acked(bad), timeout=20)
    run_id = stage.sim.add_execution(configuration_id="cfg-train")
    _envelope, url = stage.command(f"status {run_id}")
    stage.fake.wait_for_sync(lambda: bool(stage.fake.responses_for(url)), timeout=20)
    assert len(stage.socket.deliveries(bad)) == 1  # acked the first time: never redelivered
    log = stage.bots[0].log()
    assert "acknowledged and dropped a interactive envelope" in log
    assert "Traceback" not in log


def test_in_socket_mode_http_requests_are_still_verified(stage: Stage) -> None:
    """With SLACK_APP_TOKEN set, an unsigned POST must not stop anything."""
    run_id = stage.sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    signed, unsigned_only = stage.start(
        1, "--role", "all", SLACK_SIGNING_SECRET=SIGNING_SECRET
    ) + stage.start(1, "--role", "all")
    body = slash_command_body(text=f"stop {run_id}", channel_id=CHANNEL)
    with httpx.Client(timeout=10) as http:
        forged = {"Content-Type": "application/x-www-form-urlencoded"}
        assert (
            http.post(f"{signed.url}/slack/events", content=body, headers=forged).status_code == 401
        )
        # Without a signing secret nothing could be verified: the endpoint is not served.
        assert (
            http.post(f"{unsigned_only.url}/slack/events", content=body, headers=forged).status_code
            == 404
        )
        good = http.post(
            f"{signed.url}/slack/events", content=body, headers=sign(SIGNING_SECRET, body)
        )
        assert good.status_code == 200
    stage.fake.wait_for_sync(lambda: stage.sim.execution_status(run_id) != "RUNNING", timeout=20)
    assert len(stage.sim.calls("PATCH")) == 1  # the signed request only
