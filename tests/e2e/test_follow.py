"""Following runs: the poller and delivery, cycle by cycle, against the simulator and fake Slack.

The bot's real components are wired to the AI Core simulator (in-process) and the fake Slack
Web API (over HTTP on 127.0.0.1). Each test drives poll cycles and delivery explicitly, so the
assertions are about what a channel sees after each step, with no sleeps.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.delivery import Delivery
from bot.poll.poller import Poller, PollerConfig
from bot.poll.silence import SilenceCheck
from bot.store.dbclock import db_now
from bot.store.tables import OutboxMessage, PollScope
from tests.support.bolt import Slack, buttons, flatten

CHANNEL = "C123"


class World:
    def __init__(self, wired, fake_slack, sim, *, pending_alert: float = 900) -> None:
        self.components = wired
        wired.store.clock = sim.clock.now  # one clock for the bot's rows and the runs' times
        self.fake, self.served = fake_slack
        self.sim = sim
        self.delivery = self.new_delivery()
        self.slack = Slack(wired, self.fake, self.served, sim, delivery=self.delivery)
        self.poller = Poller(
            providers=wired.providers,
            db=wired.db,
            leases=wired.leases,
            config=PollerConfig(interval_seconds=30, pending_alert_seconds=pending_alert),
            log_links=wired.service.log_links,
            clock=sim.clock.now,
        )

    def new_delivery(self) -> Delivery:
        """Delivery as a freshly started worker has it (nothing in memory)."""
        return Delivery(
            db=self.components.db,
            slack=self.components.delivery_slack,
            leases=self.components.leases,
            post_interval=0.0,
            clock=self.sim.clock.now,
        )

    async def step(self, seconds: float = 0.0):
        """Time passes, one poll cycle runs, the jobs it queued run, and what is due is sent."""
        if seconds:
            self.sim.clock.advance(seconds)
        report = await self.poller.cycle()
        await self.slack.settle()
        return report

    async def deliver_until(self, condition) -> None:
        """Keep delivering until ``condition`` holds (backoffs run on the database's clock)."""
        async with asyncio.timeout(15):
            while True:
                await self.delivery.drain()
                if condition():
                    return
                await asyncio.sleep(0.05)

    async def start(self, configuration: str = "cfg-train") -> tuple[str, str]:
        await self.slack.command(f"start {configuration}")
        await self.fake.wait_for(lambda: self.top_level())
        card = self.top_level()[-1]
        return card.text.split()[2], card.ts

    def top_level(self):
        return [m for m in self.fake.messages(CHANNEL, include_replies=False) if not m.ephemeral]

    def thread(self, card_ts: str):
        return self.fake.thread(CHANNEL, card_ts)

    async def sent_by_a_dead_worker(self, kind: str) -> OutboxMessage:
        """The outbox row of ``kind``, marked in flight a minute ago by a worker since gone."""
        async with self.components.db.session() as session, session.begin():
            row = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == kind))
            assert row is not None
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(in_flight_at=db_now() - 60)
            )
        return row

    def card(self, card_ts: str):
        return next(m for m in self.fake.messages(CHANNEL) if m.ts == card_ts)


@pytest.fixture
def world(wired, fake_slack, sim) -> World:
    return World(wired, fake_slack, sim)


async def test_each_transition_is_announced_once_over_many_cycles(world: World) -> None:
    _run_id, card_ts = await world.start()
    for _ in range(3):
        await world.step(1)  # still PENDING: nothing to say
    assert world.thread(card_ts) == []

    await world.step(5)  # PENDING -> RUNNING
    for _ in range(5):
        await world.step(1)
    await world.step(60)  # RUNNING -> COMPLETED
    for _ in range(5):
        await world.step(10)

    replies = [m.text for m in world.thread(card_ts)]
    assert len(replies) == 2
    assert "is now *RUNNING* (was PENDING)" in replies[0]
    assert "is now *COMPLETED* (was RUNNING)" in replies[1]
    card = world.card(card_ts)
    assert "COMPLETED" in card.text and "run_delete" in buttons(card.blocks)
    assert len(world.top_level()) == 1  # one card, updated in place
    assert card.updates >= 2


async def test_poll_cost_follows_the_active_runs_not_one_call_per_run(world: World) -> None:
    for _ in range(3):
        await world.start()
        world.fake.clear_calls()
    for _ in range(20):  # a long history of finished runs is never listed
        world.sim.add_execution(configuration_id="cfg-train", status="COMPLETED")
    before = len(world.sim.requests)
    await world.step(1)
    calls = world.sim.requests[before:]
    # One reduced listing per status where runs appear and wait; no GET per followed run.
    assert sorted((r.method, r.path, r.query.get("status")) for r in calls) == [
        ("GET", "/lm/executions", "PENDING"),
        ("GET", "/lm/executions", "RUNNING"),
        ("GET", "/lm/executions", "UNKNOWN"),
    ]
    assert all(r.query.get("$select") == "status" for r in calls)


async def test_dead_run_alerts_the_channel_with_logs_and_a_logs_button(world: World) -> None:
    run_id, card_ts = await world.start("cfg-dies")
    world.sim.add_logs(run_id, ["loading shards", "CUDA out of memory"])
    await world.step(6)
    await world.step(60)  # RUNNING -> DEAD
    alerts = [m for m in world.thread(card_ts) if m.reply_broadcast]
    assert len(alerts) == 1
    text = flatten(alerts[0].blocks)
    assert "is DEAD" in text and "CUDA out of memory" in text
    assert "run_logs" in buttons(alerts[0].blocks)
    # The status message AI Core gave is quoted.
    assert "Status message" in text
    await world.step(10)
    assert len([m for m in world.thread(card_ts) if m.reply_broadcast]) == 1


async def test_the_starter_hears_of_a_death_once_in_their_dm(world: World) -> None:
    run_id, _card_ts = await world.start("cfg-dies")
    await world.step(6)
    await world.step(60)  # RUNNING -> DEAD
    direct = world.fake.direct_channel("U123")  # opened with conversations.open (im:write)
    assert direct is not None

    def told() -> list:
        return [m for m in world.fake.messages(direct) if run_id in m.text]

    assert len(told()) == 1 and "is *DEAD*" in told()[0].text
    assert f"<#{CHANNEL}>" in flatten(told()[0].blocks)  # where its card is
    await world.step(10)
    assert len(told()) == 1


async def test_no_dm_of_a_death_when_turned_off_or_when_the_card_is_in_the_dm(world: World) -> None:
    world.poller.writer.config = replace(world.poller.writer.config, dm_on_dead=False)
    await world.start("cfg-dies")
    await world.step(6)
    await world.step(60)
    assert world.fake.direct_channel("U123") is None  # never opened: nothing was sent

    world.poller.writer.config = replace(world.poller.writer.config, dm_on_dead=True)
    await world.slack.command("start cfg-dies", channel="D0ALREADY1")  # the app's DM
    await world.fake.wait_for(lambda: world.fake.messages("D0ALREADY1", include_replies=False))
    await world.step(6)
    await world.step(60)
    alerts = [m for m in world.fake.messages("D0ALREADY1") if "is *DEAD*" in m.text]
    assert len(alerts) == 1 and world.fake.direct_channel("U123") is None


async def test_dead_alert_links_to_the_signed_log_page_with_public_url(
    sim, fake_slack, database_url
) -> None:
    import httpx

    from tests.conftest import bot_settings, build_components

    _fake, served = fake_slack
    settings = bot_settings(
        slack_url=served.url,
        aicore_url="http://aicore.sim",
        database_url=database_url,
        public_url="https://bot.example",
    )
    components = await build_components(
        settings, httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app))
    )
    try:
        world = World(components, fake_slack, sim)
        run_id, card_ts = await world.start("cfg-dies")
        await world.step(6)
        await world.step(60)
        alert = next(m for m in world.thread(card_ts) if m.reply_broadcast)
        text = flatten(alert.blocks)
        assert f"https://bot.example/logs/aicore/default/{run_id}?exp=" in text
        assert "&sig=" in text
    finally:
        await components.aclose()


async def test_pending_too_long_alerts_once(wired, fake_slack, sim) -> None:
    world = World(wired, fake_slack, sim, pending_alert=120)
    sim.add_configuration("cfg-stuck", name="stuck", outcome="PENDING_FOREVER")
    _run_id, card_ts = await world.start("cfg-stuck")
    await world.step(60)
    assert world.thread(card_ts) == []
    await world.step(61)
    for _ in range(4):
        await world.step(60)
    alerts = [m for m in world.thread(card_ts) if m.reply_broadcast]
    assert len(alerts) == 1
    assert "has been PENDING for 2 min" in flatten(alerts[0].blocks)
    assert "object-store secret" in flatten(alerts[0].blocks)


QUEUED = {"reason": "PodQuotaReached", "message": "All 50 pods of the tenant are in use"}


async def test_a_waiting_run_is_explained_with_the_pod_quota_and_its_status_details(
    wired, fake_slack, sim
) -> None:
    world = World(wired, fake_slack, sim, pending_alert=120)
    sim.add_configuration("cfg-queue", outcome="PENDING_FOREVER", pending_details=QUEUED)
    _run_id, card_ts = await world.start("cfg-queue")
    await world.step(121)
    (alert,) = [m for m in world.thread(card_ts) if m.reply_broadcast]
    text = flatten(alert.blocks)
    assert "pod quota" in text and "at least 50" in text and "support ticket" in text
    assert "PodQuotaReached" in text and "All 50 pods of the tenant are in use" in text


async def test_several_runs_waiting_at_once_in_one_resource_group_get_one_alert(
    wired, fake_slack, sim
) -> None:
    world = World(wired, fake_slack, sim, pending_alert=120)
    sim.add_configuration("cfg-queue", outcome="PENDING_FOREVER", pending_details=QUEUED)
    runs = [(await world.start("cfg-queue"))[0] for _ in range(3)]
    await world.step(121)
    await world.step(60)
    loud = [m for m in world.fake.messages(CHANNEL) if m.reply_broadcast]
    grouped = [m for m in world.top_level() if "are waiting in PENDING" in m.text]
    assert loud == [] and len(grouped) == 1
    text = flatten(grouped[0].blocks)
    assert "3 AI Core runs in `default`" in text and all(f"`{r}`" in text for r in runs)
    assert "All 50 pods of the tenant are in use" in text


async def test_a_silent_running_run_is_told_once_and_again_only_after_it_logs_again(
    wired, fake_slack, sim
) -> None:
    world = World(wired, fake_slack, sim)
    sim.add_configuration("cfg-quiet", running_seconds=7200, silent_after_seconds=20)
    sim.add_configuration("cfg-busy", running_seconds=7200)
    quiet, quiet_card = await world.start("cfg-quiet")
    busy, busy_card = await world.start("cfg-busy")
    await world.step(6)  # both RUNNING
    check = SilenceCheck(
        db=wired.db,
        providers=wired.providers,
        leases=wired.leases,
        stuck_seconds=300,
        clock=sim.clock.now,
    )

    async def checked(seconds: float) -> Any:
        sim.clock.advance(seconds)
        for _ in range(3):
            sim.add_logs(busy, ["still training"])  # the busy one keeps writing
        if check.lease is not None:
            await wired.leases.release(check.lease)  # the next check is due
        before = len(newest_line_reads(sim))
        report = await check.check()
        assert report is not None and len(newest_line_reads(sim)) - before == report.checked
        await world.deliver_until(lambda: True)
        return report

    def silent_alerts(card_ts: str) -> list[Any]:
        return [m for m in world.thread(card_ts) if "has written no log line" in m.text]

    assert (await checked(60)).checked == 2 and silent_alerts(quiet_card) == []
    assert (await checked(300)).silent == 1  # newest line ~5 min ago: told
    await checked(60)
    await checked(60)
    assert len(silent_alerts(quiet_card)) == 1 and silent_alerts(busy_card) == []
    sim.add_logs(quiet, ["loading the next shard"])  # it wrote again...
    await checked(400)  # ...and fell silent again: told again
    assert len(silent_alerts(quiet_card)) == 2 and silent_alerts(busy_card) == []
    assert silent_alerts(quiet_card)[0].reply_broadcast  # loud, like the other alerts


def newest_line_reads(sim) -> list[Any]:
    """The stuck check's calls: one line, the newest, of a run's logs."""
    return [
        r
        for r in sim.requests
        if r.path.endswith("/logs")
        and r.query.get("$top") == "1"
        and r.query.get("$order") == "desc"
    ]


async def test_ai_core_outage_during_polls_loses_and_repeats_nothing(world: World) -> None:
    _run_id, card_ts = await world.start()
    world.sim.inject_fault(status=500, method="GET", path_prefix="/lm/executions", times=100)
    report = await world.step(6)  # RUNNING now, but AI Core answers 500 (after retries)
    assert report.failed_scopes == ["aicore/default"]
    world.sim.clear_faults()
    world.sim.inject_fault(
        status=429, method="GET", path_prefix="/lm/executions", times=100, retry_after=0.01
    )
    assert (await world.step(1)).failed_scopes == ["aicore/default"]
    assert world.thread(card_ts) == []
    world.sim.clear_faults()
    await world.step(1)
    await world.step(1)
    replies = world.thread(card_ts)
    assert len(replies) == 1 and "RUNNING" in replies[0].text


async def test_slack_429_and_500_delay_a_message_but_it_arrives_once(world: World) -> None:
    _run_id, card_ts = await world.start()
    world.fake.fail("chat.postMessage", status=429, retry_after=1, times=1)
    world.fake.fail("chat.postMessage", status=500, times=1)
    await world.step(6)
    assert world.thread(card_ts) == []  # Retry-After first, then a backoff after the 500
    await world.deliver_until(lambda: bool(world.thread(card_ts)))
    await world.step(1)
    replies = world.thread(card_ts)
    assert len(replies) == 1 and "RUNNING" in replies[0].text
    # The 500 may have come after Slack stored the message: the history was read first.
    assert world.fake.calls_to("conversations.replies")


async def test_a_message_slack_accepted_before_a_crash_is_not_posted_again(world: World) -> None:
    _run_id, card_ts = await world.start()
    world.sim.clock.advance(6)
    await world.poller.cycle()
    # A worker posted it a minute ago and died before recording the delivery:
    row = await world.sent_by_a_dead_worker("thread")
    await world.components.slack.chat_postMessage(
        channel=CHANNEL,
        thread_ts=card_ts,
        text=row.payload["text"],
        metadata={"event_type": "chatops_outbox", "event_payload": {"outbox_id": row.id}},
    )
    fresh = world.new_delivery()  # a new worker starts and delivers
    while await fresh.drain():
        pass
    assert len(world.thread(card_ts)) == 1
    async with world.components.db.session() as session:
        row = await session.get(OutboxMessage, row.id)
    assert row is not None and row.delivered_at is not None and row.sent_ts


async def test_subscription_cards_new_runs_started_outside_slack(world: World) -> None:
    old = world.sim.add_execution(configuration_id="cfg-train", status="COMPLETED")
    world.sim.clock.advance(300)
    await world.slack.command("subscribe")
    assert "subscribed this channel" in await world.slack.reply_text()
    world.sim.clock.advance(120)
    new = world.sim.add_execution(configuration_id="cfg-train")
    await world.step(1)
    cards = [m for m in world.top_level() if m.blocks and "Stop" in str(m.blocks)]
    assert [new in c.text for c in cards] == [True]
    assert not [m for m in world.top_level() if old in m.text]
    await world.step(6)
    card = next(m for m in world.top_level() if new in m.text)
    assert "RUNNING" in world.thread(card.ts)[0].text


async def test_subscription_with_only_dead_tells_only_deaths(world: World) -> None:
    await world.slack.command("subscribe only=DEAD")
    await world.slack.replies()
    world.sim.clock.advance(120)
    fine = world.sim.add_execution(configuration_id="cfg-train")
    dies = world.sim.add_execution(configuration_id="cfg-dies")
    for _ in range(3):
        await world.step(40)
    posted = [m for m in world.top_level() if "subscribed" not in m.text]
    assert len(posted) == 1
    assert dies in flatten(posted[0].blocks) and fine not in flatten(posted[0].blocks)


async def test_a_burst_becomes_one_digest(world: World) -> None:
    await world.slack.command("subscribe")
    await world.slack.replies()
    world.sim.clock.advance(120)
    ids = [world.sim.add_execution(configuration_id="cfg-dies") for _ in range(12)]
    await world.step(1)
    world.fake.clear_calls()
    await world.step(6)  # all 12 go RUNNING in one cycle
    posts = world.fake.calls_to("chat.postMessage")
    assert len(posts) == 1 and "12 AI Core status changes" in posts[0].args["text"]
    assert len(world.fake.calls_to("chat.update")) == 12  # every card still moves
    for run_id in ids:
        assert any(run_id in line for line in [flatten(posts[0].args["blocks"])])


async def test_after_a_long_outage_each_channel_gets_one_catch_up_summary(world: World) -> None:
    cards = [(await world.start())[1] for _ in range(4)]
    await world.step(1)
    async with world.components.db.session() as session:
        assert await session.get(PollScope, ("aicore", "default")) is not None
    world.fake.clear_calls()
    await world.step(3 * 3600)  # the worker was down for hours: PENDING -> ... -> COMPLETED
    posts = world.fake.calls_to("chat.postMessage")
    assert len(posts) == 1 and "Catch-up: 4 AI Core status changes" in posts[0].args["text"]
    assert all("COMPLETED" in world.card(ts).text for ts in cards)
    await world.step(30)
    assert len(world.fake.calls_to("chat.postMessage")) == 1


async def test_after_an_outage_a_single_change_is_an_ordinary_reply(world: World) -> None:
    _run_id, card_ts = await world.start()
    await world.step(1)
    await world.step(3 * 3600)
    replies = world.thread(card_ts)
    assert len(replies) == 1 and "is now *COMPLETED* (was PENDING)" in replies[0].text


async def test_stop_then_delete_deletes_once_stopped(world: World) -> None:
    run_id, card_ts = await world.start()
    await world.step(6)  # RUNNING
    await world.slack.command(f"delete {run_id}")
    answer = (await world.slack.replies())[0]
    assert "stop it first" in flatten(answer)
    value = buttons(answer["blocks"])["run_stop_then_delete"]["value"]
    await world.slack.click("run_stop_then_delete", value, ephemeral=True)
    assert "will delete it once it has stopped" in flatten((await world.slack.replies())[0])
    await world.step(1)  # STOPPING
    assert world.sim.execution_status(run_id) == "STOPPING"
    await world.step(3)  # STOPPED: the poller sees it and deletes it
    assert world.sim.execution_status(run_id) is None
    assert any("Deleted" in m.text for m in world.thread(card_ts))


async def test_ai_core_timing_out_during_a_poll_is_retried_next_cycle(
    sim, fake_slack, database_url
) -> None:
    """Over real HTTP with a short read timeout: a hanging AI Core costs one cycle, no message."""
    import httpx

    from tests.conftest import bot_settings, build_components
    from tests.support.servers import ServedApp

    with ServedApp(sim.app) as sim_server:
        _fake, served = fake_slack
        settings = bot_settings(
            slack_url=served.url, aicore_url=sim_server.url, database_url=database_url
        )
        # Short enough to test the timeout, long enough for a loaded CI machine's normal calls.
        http = httpx.AsyncClient(timeout=httpx.Timeout(1.5))
        components = await build_components(settings, http)
        try:
            world = World(components, fake_slack, sim)
            _run_id, card_ts = await world.start()
            # Every attempt of each of the cycle's three listings hangs.
            sim.inject_fault(
                status=0, method="GET", path_prefix="/lm/executions", times=9, delay=5.0
            )
            report = await world.step(6)
            assert report.failed_scopes == ["aicore/default"]
            assert world.thread(card_ts) == []
            await world.step(1)
            replies = world.thread(card_ts)
            assert len(replies) == 1 and "RUNNING" in replies[0].text
        finally:
            await components.aclose()


OPTIMIZATION = {
    "basePrompt": "summarize/po-base:1",
    "targetModels": "gpt-4o:2024-08-06",
    "targetPromptMapping": "gpt-4o:2024-08-06=po-gpt4o:2",
    "optimizationMetric": "JSON_Match",
}


async def test_prompt_optimization_results_reach_the_thread(world: World) -> None:
    world.sim.add_configuration(
        "cfg-po",
        name="po-summarize",
        scenario_id="genai-optimizations",
        executable_id="genai-optimizations",
        parameters=OPTIMIZATION,
        optimized_templates=True,
    )
    run_id, card_ts = await world.start("cfg-po")
    world.sim.set_metrics(
        run_id,
        [
            {"name": "baseline_score", "value": 0.61, "step": 0},
            {"name": "optimized_score", "value": 0.8123, "step": 3},
        ],
    )
    await world.step(6)
    await world.step(60)  # COMPLETED
    summary = next(m for m in world.thread(card_ts) if "Prompt optimization results" in m.text)
    (template,) = [
        t for t in world.sim.calls("GET", "/lm/promptTemplates") if t.query["name"] == "po-gpt4o"
    ]
    assert template.query == {"scenario": "summarize", "name": "po-gpt4o", "version": "2"}
    assert ":white_check_mark: `po-gpt4o` version `2` (ID `" in summary.text
    assert "optimized_score: *0.8123* (step 3)" in summary.text
    assert "baseline_score: *0.61*" in summary.text
    assert "Output artifacts" in summary.text  # the run's model artifact is named
    await world.step(30)
    assert len([m for m in world.thread(card_ts) if "optimization" in m.text]) == 1


async def test_prompt_optimization_without_a_better_template_says_so(world: World) -> None:
    world.sim.add_configuration(
        "cfg-po2",
        scenario_id="genai-optimizations",
        executable_id="genai-optimizations",
        parameters=OPTIMIZATION,
        optimized_templates=False,
    )
    _run_id, card_ts = await world.start("cfg-po2")
    await world.step(6)
    await world.step(60)
    summary = next(m for m in world.thread(card_ts) if "Prompt optimization results" in m.text)
    assert (
        "`gpt-4o:2024-08-06`: did not beat the base prompt, so no `po-gpt4o:2` was written"
        in summary.text
    )


async def test_ordinary_training_runs_get_no_results_summary(world: World) -> None:
    _run_id, card_ts = await world.start()
    await world.step(6)
    await world.step(60)
    await world.step(30)
    assert not [m for m in world.thread(card_ts) if "optimization" in m.text]
    # One metrics call when it ended (for a chart), none while it ran, none after.
    assert len(world.sim.calls("GET", "/lm/metrics")) == 1
    assert not [m for m in world.thread(card_ts) if m.files]  # it logged no series


def loss_curve(steps: int, *, nan_from: int | None = None) -> list[dict[str, Any]]:
    return [
        {
            "name": "loss",
            "step": step,
            "value": float("nan") if nan_from is not None and step >= nan_from else 2 / (step + 1),
        }
        for step in range(steps)
    ] + [{"name": "accuracy", "step": step, "value": step / steps} for step in range(steps)]


async def test_a_run_that_logged_metrics_gets_its_chart_in_the_thread_once(world: World) -> None:
    run_id, card_ts = await world.start()
    world.sim.set_metrics(run_id, loss_curve(40, nan_from=30))
    await world.step(6)
    await world.step(60)  # COMPLETED
    await world.deliver_until(lambda: any(m.files for m in world.thread(card_ts)))
    await world.step(30)
    await world.step(30)
    charts = [m for m in world.thread(card_ts) if m.files]
    assert len(charts) == 1
    (chart,) = charts
    (file,) = chart.files
    assert file["name"] == f"{run_id}-metrics.png"
    png = world.fake.file_bytes(file["id"])
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert "`accuracy`, `loss`, up to step 39" in chart.text
    assert ":warning: `loss` is NaN from step 30" in chart.text
    uploads = world.fake.calls_to("files.completeUploadExternal")
    assert len(uploads) == 1 and uploads[0].args["thread_ts"] == card_ts


async def test_a_dead_run_gets_its_chart_too_and_final_scores_alone_get_none(world: World) -> None:
    dead_id, dead_ts = await world.start("cfg-dies")
    world.sim.set_metrics(dead_id, loss_curve(5))
    ok_id, ok_ts = await world.start()
    world.sim.set_metrics(ok_id, [{"name": "f1", "value": 0.9}, {"name": "auc", "value": 0.7}])
    await world.step(6)
    await world.step(60)
    await world.deliver_until(lambda: any(m.files for m in world.thread(dead_ts)))
    await world.step(30)
    assert not [m for m in world.thread(ok_ts) if m.files]  # one point per metric: no curve


async def test_a_series_that_cannot_be_drawn_costs_the_chart_and_nothing_else(
    world: World,
) -> None:
    # matplotlib cannot lay out an axis from -1e308 to 1e308 (its range overflows).
    run_id, card_ts = await world.start()
    world.sim.set_metrics(
        run_id,
        [{"name": "loss", "step": 0, "value": 1e308}, {"name": "loss", "step": 1, "value": -1e308}],
    )
    await world.step(6)
    await world.step(60)  # COMPLETED: the cycle goes on without the chart
    assert any("is now *COMPLETED*" in m.text for m in world.thread(card_ts))
    assert not [m for m in world.thread(card_ts) if m.files]


async def test_a_chart_uploaded_before_a_crash_is_not_uploaded_again(world: World) -> None:
    run_id, card_ts = await world.start()
    world.sim.set_metrics(run_id, loss_curve(10))
    await world.step(6)
    world.sim.clock.advance(60)
    await world.poller.cycle()
    # A worker uploaded it a minute ago and died before recording the delivery:
    row = await world.sent_by_a_dead_worker("chart")
    await world.components.slack.files_upload_v2(
        channel=CHANNEL,
        thread_ts=card_ts,
        content=b"\x89PNG earlier attempt",
        filename=row.payload["filename"],
        title=row.payload["title"],
    )
    fresh = world.new_delivery()  # a new worker starts and delivers
    while await fresh.drain():
        pass
    assert len([m for m in world.thread(card_ts) if m.files]) == 1
    assert len(world.fake.calls_to("files.completeUploadExternal")) == 1
    async with world.components.db.session() as session:
        row = await session.get(OutboxMessage, row.id)
    assert row is not None and row.delivered_at is not None


async def test_an_install_without_files_write_drops_the_chart_and_goes_on(world: World) -> None:
    run_id, card_ts = await world.start()
    world.sim.set_metrics(run_id, loss_curve(10))
    world.fake.fail("files.getUploadURLExternal", error="missing_scope")
    await world.step(6)
    await world.step(60)
    await world.step(30)
    async with world.components.db.session() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "chart"))
    assert row is not None and row.last_error == "dropped: missing_scope (files:write)"
    assert "COMPLETED" in world.thread(card_ts)[-1].text  # the transition still went out


@pytest.mark.parametrize(
    "tampered",
    [
        {"p": "aicore", "s": "default", "r": "ab"},
        {"p": "aicore", "s": "default", "r": "exec:id"},
        {"p": "aicore", "s": "default", "r": "日本語日本語"},
        {"p": "aicore", "s": "../lm/meta", "r": "e0001abc"},
        {"p": "aicore", "s": "default\r\nX-Evil: 1", "r": "e0001abc"},
        {"p": "bria", "s": "bria", "r": "12; drop"},
        {"p": "nobody", "s": "default", "r": "e0001abc"},
    ],
)
async def test_a_tampered_button_value_is_refused_without_a_provider_call(
    world: World, tampered: dict[str, str]
) -> None:
    world.sim.requests.clear()
    value = json.dumps(tampered)
    for action in ("run_stop", "run_delete", "run_refresh"):
        await world.slack.click(action, value)
        answer = flatten((await world.slack.replies())[0])
        assert "older version of the bot" in answer, answer
    assert [r.path for r in world.sim.requests] == []
