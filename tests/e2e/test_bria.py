"""/bria through the real bot: training cards, every documented error answer, the poller.

The bot's components talk to the Bria simulator and the AI Core simulator in-process (one
httpx client, a transport per host) and to the fake Slack over HTTP; commands and clicks go
through Bolt's dispatch, signed as Slack signs them; poll cycles and delivery are driven one
step at a time, as in test_follow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from bot.app import Components
from bot.blocks import ACTION_BULK_CONFIRM, ACTION_STOP_THEN_DELETE
from bot.delivery import Delivery
from bot.poll.poller import Poller, PollerConfig
from bot.providers.aicore.simulator import ManualClock
from bot.providers.bria.simulator import BriaSimulator
from tests.conftest import bot_settings, build_components
from tests.support.bolt import Slack, buttons, flatten

CHANNEL = "C123"
BRIA_TOKEN = "bria-test-token"


@pytest.fixture
def bria() -> BriaSimulator:
    return BriaSimulator(
        clock=ManualClock(datetime.now(UTC)),
        api_token=BRIA_TOKEN,
        training_seconds=3600,
        stopping_seconds=5,
    )


@pytest.fixture
async def components(sim, bria, fake_slack, database_url) -> AsyncIterator[Components]:
    _fake, served = fake_slack
    settings = bot_settings(
        slack_url=served.url,
        aicore_url="http://aicore.sim",
        database_url=database_url,
        bria_api_token=BRIA_TOKEN,
        bria_base_url="http://bria.sim/v1",
    )
    http = httpx.AsyncClient(
        mounts={
            "http://aicore.sim": httpx.ASGITransport(app=sim.app),
            "http://bria.sim": httpx.ASGITransport(app=bria.app),
        }
    )
    built = await build_components(settings, http)
    built.store.clock = bria.clock.now
    try:
        yield built
    finally:
        await built.aclose()


class Team:
    def __init__(self, components: Components, fake_slack, sim, bria: BriaSimulator) -> None:
        self.fake, self.served = fake_slack
        self.bria = bria
        self.delivery = Delivery(
            db=components.db,
            slack=components.delivery_slack,
            leases=components.leases,
            post_interval=0.0,
            clock=bria.clock.now,
        )
        self.slack = Slack(components, self.fake, self.served, sim, delivery=self.delivery)
        self.poller = Poller(
            providers=components.providers,
            db=components.db,
            leases=components.leases,
            config=PollerConfig(interval_seconds=30, pending_alert_seconds=900),
            clock=bria.clock.now,
        )

    async def bria_cmd(self, text: str):
        return await self.slack.command(text, command="/bria")

    async def step(self, seconds: float = 0.0):
        if seconds:
            self.bria.advance(seconds)
        report = await self.poller.cycle()
        await self.slack.settle()
        return report

    def cards(self):
        return [
            m
            for m in self.fake.messages(CHANNEL, include_replies=False)
            if not m.ephemeral and m.thread_ts is None
        ]

    def mutations(self) -> list:
        return [r for r in self.bria.requests if r.method in ("POST", "DELETE")]


@pytest.fixture
def team(components, fake_slack, sim, bria) -> Team:
    return Team(components, fake_slack, sim, bria)


@pytest.fixture
def dataset(bria: BriaSimulator) -> int:
    return bria.add_dataset(bria.add_project("brand"), status="completed")


async def test_train_posts_a_card_the_poller_keeps_current(team: Team, bria, dataset) -> None:
    model = bria.add_model(dataset, name="brand-style")
    ack = await team.bria_cmd(f"train {model}")
    assert "Starting the training of Bria model" in ack.text
    await team.fake.wait_for(lambda: team.cards())
    card = team.cards()[0]
    text = flatten(card.blocks)
    assert "InProgress" in card.text and "brand-style" in text
    assert "steps 750" in text and "lr 0.0001" in text  # what Bria reports it uses
    assert set(buttons(card.blocks)) == {"run_stop", "run_refresh"}  # no logs API at Bria
    assert "Started training of model" in await team.slack.reply_text()

    before = len(bria.requests)
    await team.step(60)
    assert [(r.method, r.path) for r in bria.requests[before:]] == [("GET", "/tailored-gen/models")]
    await team.step(3600)
    replies = team.fake.thread(CHANNEL, card.ts)
    assert len(replies) == 1 and "*Completed* (was InProgress)" in replies[0].text
    await team.step(60)
    assert len(team.fake.thread(CHANNEL, card.ts)) == 1


async def test_expert_parameters_are_sent_as_given_and_shown(team: Team, bria, dataset) -> None:
    model = bria.add_model(dataset, training_mode="expert")
    await team.bria_cmd(f"train {model} steps=1000 lr=0.0002 scheduler=cosine")
    await team.fake.wait_for(lambda: team.cards())
    start = bria.calls("POST", f"/tailored-gen/models/{model}/start_training")[0]
    assert start.json() == {
        "total_training_steps": 1000,
        "learning_rate": 0.0002,
        "lr_scheduler": "cosine",
    }
    assert "steps 1000" in flatten(team.cards()[0].blocks)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ("lr=1", "`lr` must be between"),
        ("epochs=3", "Unknown option `epochs`"),
        ("scheduler=exp", "`scheduler` must be one of"),
        ("steps=many", "must be a whole number"),
    ],
)
async def test_bad_parameters_are_refused_in_the_ack_with_no_bria_call(
    team: Team, bria, dataset, options: str, expected: str
) -> None:
    model = bria.add_model(dataset, training_mode="expert")
    ack = await team.bria_cmd(f"train {model} {options}")
    assert expected in ack.text
    assert bria.requests == []


async def test_parameters_for_a_fully_automated_model_are_refused_before_starting(
    team: Team, bria, dataset
) -> None:
    model = bria.add_model(dataset)
    await team.bria_cmd(f"train {model} steps=1000")
    assert "fully_automated mode" in await team.slack.reply_text()
    assert team.mutations() == []


async def test_malformed_bria_commands_cost_no_call(team: Team, bria) -> None:
    for text, expected in [
        ("trian 5", "Did you mean `/bria train`?"),
        ("train", "a model ID or name"),
        ("status", "exactly one model ID"),
        ("list Finished", "not a model status"),
    ]:
        ack = await team.bria_cmd(text)
        assert expected in ack.text
    assert bria.requests == []


async def test_every_documented_error_answer_reads_as_a_sentence(team: Team, bria, dataset) -> None:
    async def answer(text: str) -> str:
        await team.bria_cmd(text)
        return await team.slack.reply_text()

    model = bria.add_model(dataset)
    training = bria.add_model(dataset, status="InProgress")
    draft = bria.add_model(bria.add_dataset(bria.add_project("p2"), status="draft"))

    assert "Bria has no model 999999" in await answer("train 999999")
    assert "already training" in await answer(f"train {training}")
    assert "dataset of model" in await answer(f"train {draft}")
    bria.set_forbidden(True)
    assert "plan or quota does not allow this" in await answer(f"train {model}")
    bria.set_forbidden(False)
    bria.inject_fault(status=429, times=10)
    assert "rate-limiting" in await answer(f"status {model}")
    bria.clear_faults()
    bria.inject_fault(status=500, times=10)
    assert "internal error" in await answer(f"status {model}")
    bria.clear_faults()
    bria.api_token = "rotated"
    assert "refused the API token (BRIA_API_TOKEN)" in await answer(f"status {model}")


async def test_stop_delete_status_list_like_their_aicore_twins(team: Team, bria, dataset) -> None:
    running = bria.add_model(dataset, status="InProgress", name="running")
    done = bria.add_model(dataset, status="Completed", name="done")

    await team.bria_cmd(f"stop {done}")
    assert "is *Completed*: only InProgress runs can be stopped" in await team.slack.reply_text()
    await team.bria_cmd(f"delete {running}")
    answer = (await team.slack.replies())[0]
    assert "stop it first" in flatten(answer)
    assert ACTION_STOP_THEN_DELETE in buttons(answer["blocks"])
    assert team.mutations() == []

    await team.bria_cmd(f"stop {running}")
    assert "1 accepted" in await team.slack.reply_text()
    assert bria.model_status(running) == "Stopping"

    await team.bria_cmd(f"delete {done}")
    question = (await team.slack.replies())[0]
    assert "Delete 1 Bria run?" in flatten(question)
    assert bria.model_status(done) == "Completed"
    await team.slack.click(
        ACTION_BULK_CONFIRM,
        buttons(question["blocks"])[ACTION_BULK_CONFIRM]["value"],
        ephemeral=True,
    )
    assert "1 accepted" in flatten((await team.slack.replies())[0])
    assert bria.model_status(done) is None

    await team.bria_cmd(f"status {running}")
    assert "Stopping" in await team.slack.reply_text()
    await team.bria_cmd("list")
    assert "Stopping: *1*" in await team.slack.reply_text()


async def test_failed_training_alerts_the_channel_like_dead(team: Team, bria, dataset) -> None:
    model = bria.add_model(dataset, outcome="Failed")
    await team.bria_cmd(f"train {model}")
    await team.fake.wait_for(lambda: team.cards())
    card = team.cards()[0]
    await team.step(3601)
    alerts = [m for m in team.fake.thread(CHANNEL, card.ts) if m.reply_broadcast]
    assert len(alerts) == 1
    assert "is Failed" in flatten(alerts[0].blocks)
    assert "run_logs" not in buttons(alerts[0].blocks)


async def test_a_bria_outage_during_polling_loses_and_repeats_nothing(
    team: Team, bria, dataset
) -> None:
    model = bria.add_model(dataset)
    await team.bria_cmd(f"train {model}")
    await team.fake.wait_for(lambda: team.cards())
    card = team.cards()[0]
    bria.inject_fault(status=500, method="GET", times=100)
    report = await team.step(3601)
    assert report.failed_scopes == ["bria/bria"]
    bria.clear_faults()
    bria.inject_fault(status=429, method="GET", times=100, retry_after=0.01)
    assert (await team.step(1)).failed_scopes == ["bria/bria"]
    bria.clear_faults()
    await team.step(1)
    await team.step(1)
    replies = team.fake.thread(CHANNEL, card.ts)
    assert len(replies) == 1 and "Completed" in replies[0].text


async def test_train_takes_a_model_name_and_an_ambiguous_name_gets_the_candidates(
    team: Team, bria, dataset
) -> None:
    model = bria.add_model(dataset, name="Product shots")
    twins = [bria.add_model(dataset, name="Lifestyle") for _ in range(2)]
    await team.bria_cmd("train product shots")  # names ignore case where they are unique
    await team.fake.wait_for(lambda: team.cards())
    assert str(model) in team.cards()[0].text
    assert "Started training of model" in await team.slack.reply_text()

    started = len(team.mutations())
    await team.bria_cmd("train Lifestyle")
    answer = await team.slack.reply_text()
    assert "2 models in `bria` are named `Lifestyle`" in answer and "nothing was started" in answer
    assert all(f"`{twin}`" in answer for twin in twins)
    assert len(team.mutations()) == started
