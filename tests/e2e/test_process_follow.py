"""Following runs through the real process: alerts with log links, restarts, crashes.

``python -m bot`` runs as a subprocess with a fast poll interval against the simulator and the
fake Slack on 127.0.0.1; it is stopped with SIGTERM and killed with SIGKILL (also while Slack
holds a post it has not answered yet) and started again on the same database. Each
transition must reach the channel exactly once. Runs on SQLite, and on PostgreSQL when
``TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from bot.providers.aicore.simulator import AICoreSimulator, ManualClock
from bot.providers.bria.simulator import BriaSimulator
from tests.support.bolt import SIGNING_SECRET, flatten
from tests.support.fake_slack import FakeSlack, Message
from tests.support.process import BotProcess, SignedSlackClient, bot_env
from tests.support.servers import ServedApp, free_port

BOT_TOKEN = "xoxb-test-token"
CHANNEL = "CPROC01"


@dataclass
class Stage:
    sim: AICoreSimulator
    bria: BriaSimulator
    fake: FakeSlack
    env: dict[str, str]
    slack_url: str
    bot: BotProcess | None = None

    def start_bot(self) -> BotProcess:
        """Start ``python -m bot``; if another test took its port meanwhile, take a new one.

        The port is chosen before the bot starts because PUBLIC_URL (for log links) names it.
        """
        for _attempt in range(3):
            try:
                self.bot = BotProcess(self.env).start()
                return self.bot
            except AssertionError as exc:
                if "address already in use" not in str(exc).lower():
                    raise
                port = free_port()
                self.env.update(PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}")
        raise AssertionError("no free port for the bot after three tries")

    def client(self) -> SignedSlackClient:
        assert self.bot is not None
        return SignedSlackClient(
            self.bot.url, SIGNING_SECRET, lambda: self.fake.response_url(self.slack_url)
        )

    def card(self) -> Message:
        self.fake.wait_for_sync(lambda: self._cards())
        return self._cards()[0]

    def _cards(self) -> list[Message]:
        return [
            m
            for m in self.fake.messages(CHANNEL, include_replies=False)
            if not m.ephemeral and m.thread_ts is None
        ]

    def replies(self, card: Message) -> list[Message]:
        return self.fake.thread(CHANNEL, card.ts)

    def keep_polling(self) -> None:
        """Follow a run that stays RUNNING from another channel, so the poller keeps polling
        after the runs under test have finished (a finished run alone is not polled again)."""
        forever = self.sim.add_execution(configuration_id="cfg-train", status="RUNNING")
        client = self.client()
        try:
            client.command(f"watch {forever}", channel="CKEEPALIVE")
        finally:
            client.close()
        self.fake.wait_for_sync(lambda: self.fake.messages("CKEEPALIVE"))

    def wait_polls(self, count: int) -> None:
        """Let ``count`` more poll cycles happen (each is one list call to AI Core)."""
        target = len(self.sim.calls("GET", "/lm/executions")) + count
        self.fake.wait_for_sync(
            lambda: len(self.sim.calls("GET", "/lm/executions")) >= target, timeout=20
        )


@pytest.fixture
def stage(database_url: str) -> Iterator[Stage]:
    sim = AICoreSimulator(
        clock=ManualClock(datetime.now(UTC)),
        pending_seconds=5,
        running_seconds=60,
        stopping_seconds=2,
    )
    sim.add_configuration("cfg-train", name="resnet-train", scenario_id="training")
    sim.add_configuration("cfg-dies", name="will-die", scenario_id="training", outcome="DEAD")
    sim.add_configuration("cfg-stuck", name="stuck", outcome="PENDING_FOREVER")
    bria = BriaSimulator(clock=ManualClock(datetime.now(UTC)), training_seconds=3600)
    fake = FakeSlack(bot_token=BOT_TOKEN)
    port = free_port()
    with (
        ServedApp(sim.app) as sim_server,
        ServedApp(fake.app) as slack_server,
        ServedApp(bria.app) as bria_server,
    ):
        env = bot_env(
            slack_url=slack_server.url,
            aicore_url=sim_server.url,
            database_url=database_url,
            bot_token=BOT_TOKEN,
            POLL_INTERVAL_SECONDS="0.2",
            PENDING_ALERT_SECONDS="900",
            PORT=str(port),
            PUBLIC_URL=f"http://127.0.0.1:{port}",
            BRIA_API_TOKEN="bria-test-token",
            BRIA_BASE_URL=f"{bria_server.url}/v1",
        )
        stage = Stage(sim, bria, fake, env, slack_server.url)
        try:
            yield stage
        finally:
            if stage.bot is not None:
                stage.bot.stop()


def start_run(stage: Stage, configuration: str) -> tuple[Message, str]:
    """Start a run the way a user does, and wait until they were told it started."""
    client = stage.client()
    try:
        response, url = client.command(f"start {configuration}", channel=CHANNEL)
        assert response.status_code == 200
    finally:
        client.close()
    stage.fake.wait_for_sync(lambda: bool(stage.fake.responses_for(url)))
    assert "Started execution" in flatten(stage.fake.responses_for(url)[0])
    card = stage.card()
    return card, card.text.split()[2]


def test_dead_alert_is_broadcast_once_with_a_working_signed_log_link(stage: Stage) -> None:
    bot = stage.start_bot()
    stage.keep_polling()
    card, run_id = start_run(stage, "cfg-dies")
    stage.sim.add_logs(run_id, ["step 1 <b>loss</b>=0.9", "RuntimeError: CUDA out of memory"])
    stage.sim.clock.advance(6)
    stage.sim.clock.advance(60)
    stage.fake.wait_for_sync(lambda: any(m.reply_broadcast for m in stage.replies(card)))
    stage.wait_polls(5)
    alerts = [m for m in stage.replies(card) if m.reply_broadcast]
    assert len(alerts) == 1
    text = flatten(alerts[0].blocks)
    assert "CUDA out of memory" in text
    link = re.search(r"<(http://127\.0\.0\.1:\d+/logs/[^|>]+)\|", text)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    with httpx.Client(timeout=10) as browser:
        page = browser.get(url)
        assert page.status_code == 200
        assert "CUDA out of memory" in page.text and "&lt;b&gt;loss&lt;/b&gt;" in page.text
        tampered = browser.get(url[:-1] + ("0" if url[-1] != "0" else "1"))
        assert tampered.status_code == 403
    assert bot.returncode is None


def test_pending_too_long_is_alerted_once(stage: Stage) -> None:
    stage.env["PENDING_ALERT_SECONDS"] = "1"
    stage.start_bot()
    stage.keep_polling()
    card, _run_id = start_run(stage, "cfg-stuck")
    stage.fake.wait_for_sync(lambda: any(m.reply_broadcast for m in stage.replies(card)))
    stage.wait_polls(10)
    alerts = [m for m in stage.replies(card) if m.reply_broadcast]
    assert len(alerts) == 1 and "PENDING" in flatten(alerts[0].blocks)


def test_runs_queued_behind_the_pod_quota_are_explained_in_one_alert(stage: Stage) -> None:
    queued = {"reason": "PodQuotaReached", "message": "All 50 pods of the tenant are in use"}
    stage.sim.add_resource_group("team-b")
    stage.sim.add_configuration(
        "cfg-queue", resource_group="team-b", outcome="PENDING_FOREVER", pending_details=queued
    )
    stage.env["PENDING_ALERT_SECONDS"] = "1"
    stage.start_bot()
    # Started outside Slack, all three already waiting when the channel subscribes; nobody
    # polled team-b before, so its first listing shows them together.
    runs = [
        stage.sim.add_execution(configuration_id="cfg-queue", resource_group="team-b")
        for _ in range(3)
    ]
    client = stage.client()
    try:
        _ack, url = client.command("subscribe rg=team-b", channel=CHANNEL)
    finally:
        client.close()
    stage.fake.wait_for_sync(lambda: bool(stage.fake.responses_for(url)))

    def grouped() -> list[Message]:
        return [
            m
            for m in stage.fake.messages(CHANNEL, include_replies=False)
            if "are waiting in PENDING" in m.text
        ]

    stage.fake.wait_for_sync(lambda: bool(grouped()), timeout=20)
    stage.wait_polls(10)
    (alert,) = grouped()
    text = flatten(alert.blocks)
    assert "3 AI Core runs in `team-b`" in text and all(f"`{r}`" in text for r in runs)
    assert "pod quota" in text and "at least 50" in text and "support ticket" in text
    assert "All 50 pods of the tenant are in use" in text
    assert not [m for m in stage.fake.messages(CHANNEL) if m.reply_broadcast]


def test_sigterm_then_restart_announces_what_happened_meanwhile_once(stage: Stage) -> None:
    bot = stage.start_bot()
    stage.keep_polling()
    card, _run_id = start_run(stage, "cfg-train")
    stage.sim.clock.advance(6)  # RUNNING
    stage.fake.wait_for_sync(lambda: len(stage.replies(card)) == 1)

    bot.signal(signal.SIGTERM)
    assert (
        bot.wait(timeout=30) == 0
    )  # finishes what it is sending, then exits (well under 1 s here)
    assert "shutting down" in bot.log()

    stage.sim.clock.advance(60)  # COMPLETED while the bot is down
    stage.start_bot()
    stage.fake.wait_for_sync(lambda: len(stage.replies(card)) >= 2)
    stage.wait_polls(10)
    texts = [m.text for m in stage.replies(card)]
    assert len(texts) == 2
    assert "*RUNNING*" in texts[0] and "*COMPLETED*" in texts[1]


def test_sigkill_while_slack_holds_an_unanswered_post_does_not_duplicate_it(
    stage: Stage,
) -> None:
    bot = stage.start_bot()
    stage.keep_polling()
    card, _run_id = start_run(stage, "cfg-train")
    # Slack will take the next post at once but answer only much later.
    stage.fake.answer_late("chat.postMessage", seconds=30)
    stage.sim.clock.advance(6)  # RUNNING: the reply is posted, Slack has it, no answer yet
    stage.fake.wait_for_sync(lambda: len(stage.replies(card)) == 1)
    bot.signal(signal.SIGKILL)
    bot.wait(timeout=10)

    stage.start_bot()
    stage.wait_polls(10)
    assert len(stage.replies(card)) == 1  # found in the thread by its metadata, not re-posted
    stage.sim.clock.advance(60)  # COMPLETED
    stage.fake.wait_for_sync(lambda: len(stage.replies(card)) >= 2)
    stage.wait_polls(10)
    texts = [m.text for m in stage.replies(card)]
    assert len(texts) == 2 and "*COMPLETED*" in texts[1]


def test_sigkill_between_polls_and_a_slack_429_lose_and_repeat_nothing(stage: Stage) -> None:
    bot = stage.start_bot()
    stage.keep_polling()
    card, _run_id = start_run(stage, "cfg-train")
    bot.signal(signal.SIGKILL)
    bot.wait(timeout=10)
    stage.sim.clock.advance(6)  # RUNNING while the bot is dead
    stage.fake.fail("chat.postMessage", status=429, retry_after=1, times=2)
    stage.start_bot()
    stage.fake.wait_for_sync(lambda: len(stage.replies(card)) >= 1, timeout=20)
    stage.wait_polls(10)
    assert [("*RUNNING*" in m.text) for m in stage.replies(card)] == [True]


def test_bria_training_through_the_process_card_and_completion(stage: Stage) -> None:
    stage.start_bot()
    stage.keep_polling()
    model = stage.bria.add_model(
        stage.bria.add_dataset(stage.bria.add_project("brand")),
        name="brand-style",
        training_mode="expert",
    )
    client = stage.client()
    try:
        response, _url = client.command(
            f"train {model} steps=1000", channel=CHANNEL, command="/bria"
        )
        assert response.status_code == 200
        bad, _ = client.command(f"train {model} lr=5", channel=CHANNEL, command="/bria")
        assert "`lr` must be between" in bad.json()["text"]
    finally:
        client.close()
    card = stage.card()
    assert "InProgress" in card.text and "steps 1000" in flatten(card.blocks)
    stage.bria.advance(3601)
    stage.fake.wait_for_sync(lambda: len(stage.replies(card)) >= 1)
    stage.wait_polls(5)
    replies = stage.replies(card)
    assert len(replies) == 1 and "*Completed*" in replies[0].text
    assert len(stage.bria.calls("POST")) == 1  # one start, and the bad one cost no call
