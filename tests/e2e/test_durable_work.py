"""Work after the ack survives the process that acked: through real ``python -m bot`` processes.

A command acknowledged by one process is done by whichever process is alive later; a start
whose process died while its POST was on the way is not sent again; Slack's retries and a
double click are acted on once; SIGTERM under load hands the unfinished work back in time.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from bot.providers.aicore.simulator import AICoreSimulator, ManualClock, SystemClock
from tests.support.bolt import SIGNING_SECRET, flatten
from tests.support.deployment import deployment
from tests.support.process import SignedSlackClient
from tests.support.slack_signing import button_click_body, sign, slash_command_body

CHANNEL = "CDURABLE"


@pytest.fixture
def sim() -> AICoreSimulator:
    simulator = AICoreSimulator(clock=SystemClock(), pending_seconds=3600)
    simulator.add_configuration("cfg-train", name="resnet-train")
    return simulator


def answers(world, url: str) -> list[str]:
    return [flatten(r) for r in world.fake.responses_for(url)]


def started_once(world, url: str) -> str:
    world.fake.wait_for_sync(lambda: any("Started" in a for a in answers(world, url)), timeout=30)
    started = [a for a in answers(world, url) if "Started execution" in a]
    assert len(started) == 1, answers(world, url)
    run_id = re.search(r"`(\w+)`", started[0]).group(1)  # type: ignore[union-attr]
    world.fake.wait_for_sync(lambda: bool(world.cards(CHANNEL)), timeout=30)
    world.wait_until_settled()
    assert [c for c in world.cards(CHANNEL) if run_id in c.text] == world.cards(CHANNEL)
    assert len(world.cards(CHANNEL)) == 1
    return run_id


def test_a_command_acknowledged_with_no_worker_alive_is_done_when_one_starts(
    sim, database_url
) -> None:
    with deployment(sim, database_url) as world:
        world.start("web", "--role", "web")
        status, url = world.command("start cfg-train", channel=CHANNEL)
        assert status == 200
        world.kill("web")  # acknowledged, and the only process is gone
        assert sim.calls("POST", "/lm/executions") == []
        world.start("worker", "--role", "worker")
        started_once(world, url)
        assert len(sim.calls("POST", "/lm/executions")) == 1


def test_a_start_killed_while_its_post_was_on_the_way_is_not_sent_again(sim, database_url) -> None:
    with deployment(sim, database_url) as world:
        world.start("bot")
        sim.inject_fault(status=0, method="POST", path_prefix="/lm/executions", delay=3.0)
        status, url = world.command("start cfg-train", channel=CHANNEL)
        assert status == 200
        world.fake.wait_for_sync(lambda: bool(sim.calls("POST", "/lm/executions")))
        world.kill("bot")  # AI Core goes on and creates the run; nobody hears its answer
        world.fake.wait_for_sync(lambda: bool(sim.execution_ids()), timeout=10)
        world.start("bot")
        run_id = started_once(world, url)
        assert sim.execution_ids() == [run_id]
        assert len(sim.calls("POST", "/lm/executions")) == 1


def test_slack_retrying_a_command_is_acted_on_once(sim, database_url) -> None:
    with deployment(sim, database_url) as world:
        bot = world.start("bot")
        url = world.fake.response_url(world.slack_url)
        body = slash_command_body(text="start cfg-train", channel_id=CHANNEL, response_url=url)
        with httpx.Client(timeout=10) as http:
            for attempt in range(3):  # the request, then Slack's retries of it
                headers = sign(SIGNING_SECRET, body)
                if attempt:
                    headers |= {
                        "X-Slack-Retry-Num": str(attempt),
                        "X-Slack-Retry-Reason": "timeout",
                    }
                response = http.post(f"{bot.url}/slack/events", content=body, headers=headers)
                assert response.status_code == 200
        started_once(world, url)
        assert len(sim.calls("POST", "/lm/executions")) == 1


def test_a_double_click_on_stop_stops_once(database_url) -> None:
    sim = AICoreSimulator(clock=ManualClock(), pending_seconds=3600)
    sim.add_configuration("cfg-train")
    run_id = sim.add_execution(configuration_id="cfg-train", status="RUNNING")
    with deployment(sim, database_url) as world:
        bot = world.start("bot")
        status, _url = world.command(f"watch {run_id}", channel=CHANNEL)
        assert status == 200
        world.fake.wait_for_sync(lambda: bool(world.cards(CHANNEL)), timeout=30)
        card = world.cards(CHANNEL)[0]
        stop = next(
            e
            for b in card.blocks
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "run_stop"
        )
        sim.inject_fault(status=0, method="GET", delay=1.0)  # the first click takes a moment
        client = SignedSlackClient(
            bot.url, SIGNING_SECRET, lambda: world.fake.response_url(world.slack_url)
        )
        try:
            for _ in range(2):
                body = button_click_body(
                    action_id="run_stop",
                    value=stop["value"],
                    user_id="U123",
                    channel_id=CHANNEL,
                    message_ts=card.ts,
                    response_url=world.fake.response_url(world.slack_url),
                )
                assert client.post(body, sign(SIGNING_SECRET, body)).status_code == 200
        finally:
            client.close()
        world.wait_until_settled()
        assert len(sim.calls("PATCH")) == 1


def test_sigterm_under_load_exits_in_time_and_hands_the_work_back(database_url) -> None:
    sim = AICoreSimulator(clock=SystemClock(), pending_seconds=3600)
    sim.add_configuration("cfg-train")
    sim.latency = 2.0  # every AI Core call takes 2 s
    with deployment(sim, database_url) as world:
        bot = world.start("bot")
        urls = []
        for n in range(40):
            status, url = world.command("start cfg-train", channel=f"{CHANNEL}{n % 4}")
            assert status == 200
            urls.append(url)
        world.fake.wait_for_sync(lambda: len(sim.requests) >= 5, timeout=20)
        begun = time.monotonic()
        world.processes.pop("bot").stop()
        took = time.monotonic() - begun
        assert bot.returncode == 0
        assert took < 10, f"SIGTERM took {took:.1f} s"
        sim.latency = 0.0
        world.start("bot")
        for url in urls:
            world.fake.wait_for_sync(
                lambda u=url: any("Started" in a for a in answers(world, u)), timeout=60
            )
            assert len([a for a in answers(world, url) if "Started execution" in a]) == 1
        world.wait_until_settled()
        assert len(sim.execution_ids()) == 40
