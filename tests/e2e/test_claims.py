"""Shared work claimed in the database: two processes' components on one database.

Each "process" here is a full set of the bot's components with its own identity (host, pid
and a random part), registered as live, as two workers on one host would be. The findings
of the scale-out issue are reproduced one by one: both draining one outbox, both polling every
scope, a run announced DELETED for missing from a list, one scope's bad answer stopping the
others, the mark of "stop, then delete" written too late, delivery waiting on AI Core, and
one bad outbox row ending delivery for good.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, select, text, update

from bot.app import Components
from bot.delivery import Delivery
from bot.outbox import Keys, Reply, row
from bot.poll.poller import Poller, PollerConfig
from bot.store.db import MIGRATIONS, Database
from bot.store.tables import Follow, Lease, OutboxMessage
from tests.conftest import bot_settings, build_components
from tests.support.bolt import Slack
from tests.support.waits import until

CHANNEL = "C123"


@pytest.fixture
async def twin(sim, fake_slack, database_url) -> AsyncIterator[Components]:
    """A second process's components on the same database."""
    _fake, served = fake_slack
    settings = bot_settings(
        slack_url=served.url, aicore_url="http://aicore.sim", database_url=database_url
    )
    components = await build_components(
        settings, httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app))
    )
    try:
        yield components
    finally:
        await components.aclose()


def poller_of(components: Components, sim, *, pending_alert: float = 900) -> Poller:
    return Poller(
        providers=components.providers,
        db=components.db,
        leases=components.leases,
        registry=components.registry,
        config=PollerConfig(interval_seconds=30, pending_alert_seconds=pending_alert),
        clock=sim.clock.now,
    )


def delivery_of(components: Components, sim) -> Delivery:
    return Delivery(
        db=components.db,
        slack=components.delivery_slack,
        leases=components.leases,
        post_interval=0.0,
        clock=sim.clock.now,
    )


async def queue_messages(components: Components, channels: int, each: int) -> None:
    async with components.db.session() as session, session.begin():
        for c in range(channels):
            for n in range(each):
                message = Reply(text=f"message {n} of channel {c}")
                session.add(
                    OutboxMessage(
                        **row(
                            channel=f"C{c:03d}",
                            follow_id=None,
                            message=message,
                            key=f"test:{c}:{n}",
                            now=components.store.clock(),
                        )
                    )
                )


async def nothing_pending(components: Components) -> bool:
    """No message is left that is neither delivered nor set aside."""
    async with components.db.session() as session:
        left = await session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None)
            )
        )
        return left is None


async def test_two_workers_never_send_one_message_twice_and_keep_each_channels_order(
    wired, twin, fake_slack, sim
) -> None:
    fake, _served = fake_slack
    await queue_messages(wired, channels=12, each=6)
    one, other = delivery_of(wired, sim), delivery_of(twin, sim)
    await asyncio.gather(*(d.drain() for d in (one, other, one, other)))
    while await one.drain() + await other.drain():
        pass
    posts = fake.calls_to("chat.postMessage")
    texts = Counter(call.args["text"] for call in posts)
    assert len(texts) == 72 and set(texts.values()) == {1}
    for c in range(12):
        channel = [m.text for m in fake.messages(f"C{c:03d}")]
        assert channel == [f"message {n} of channel {c}" for n in range(6)]


async def test_two_workers_on_one_host_split_the_scopes_and_take_over_a_dead_ones(
    wired, twin, sim
) -> None:
    # Rendezvous hashing over random process ids: with 24 scopes, one of two workers owning
    # them all has a chance of 2**-23.
    groups = [f"grp{n}" for n in range(24)]
    for group in groups:
        sim.add_resource_group(group)
        await wired.store.subscribe(
            provider="aicore", scope=group, channel=CHANNEL, scenario=None, only=None, user_id="U1"
        )
    first, second = poller_of(wired, sim), poller_of(twin, sim)
    await first.cycle()
    await second.cycle()
    await first.cycle()  # the first lets go of what is the second's; the second takes it
    await second.cycle()
    mine, theirs = set(first.held), set(second.held)
    assert mine and theirs and not mine & theirs
    assert mine | theirs == {("aicore", g) for g in groups}
    # Each scope was listed by its holder only, in the last cycles.
    sim.requests.clear()
    await first.cycle()
    await second.cycle()
    listed = Counter(
        r.headers["ai-resource-group"] for r in sim.requests if r.path == "/lm/executions"
    )
    assert set(listed.values()) == {3}  # one listing per polled status, by one process
    # The second process dies (its heartbeat ends): the first takes its scopes.
    await twin.registry.leave()
    await first.cycle()
    assert set(first.held) == {("aicore", g) for g in groups}


async def test_a_run_missing_from_a_listing_is_read_before_anything_is_said(
    wired, fake_slack, sim
) -> None:
    slack = Slack(wired, *fake_slack, sim)
    await slack.command("start cfg-train")
    card = fake_slack[0].messages(CHANNEL)[0]
    run_id = card.text.split()[2]
    sim.clock.advance(6)  # RUNNING
    sim.leave_out_of_listings(run_id)
    await poller_of(wired, sim).cycle()
    await slack.settle()
    assert sim.calls("GET", f"/lm/executions/{run_id}")
    replies = [m.text for m in fake_slack[0].thread(CHANNEL, card.ts)]
    assert len(replies) == 1 and "is now *RUNNING*" in replies[0]
    assert not any("no longer exists" in text for text in replies)


async def test_one_scopes_unreadable_answer_does_not_stop_the_others(
    wired, fake_slack, sim
) -> None:
    sim.add_resource_group("other")
    sim.add_configuration("cfg-other", resource_group="other")
    slack = Slack(wired, *fake_slack, sim)
    await slack.command("start cfg-train")
    await slack.command("start cfg-other rg=other")
    cards = fake_slack[0].messages(CHANNEL)
    assert len(cards) == 2
    sim.garble_listings("other", times=10)
    sim.clock.advance(6)
    report = await poller_of(wired, sim).cycle()
    await slack.settle()
    assert report.failed_scopes == ["aicore/other"]
    told = [m.text for card in cards for m in fake_slack[0].thread(CHANNEL, card.ts)]
    assert len(told) == 1 and "RUNNING" in told[0]  # the default group's run, told anyway


async def test_stop_then_delete_marks_before_stopping(wired, fake_slack, sim) -> None:
    """A poll between the stop and the mark saw STOPPED unmarked and never deleted the run."""
    fake, _served = fake_slack
    slack = Slack(wired, fake, fake_slack[1], sim)
    poller = poller_of(wired, sim)
    sim.stopping_seconds = 0  # AI Core stops it at once...
    await slack.command("start cfg-train")
    run_id = fake.messages(CHANNEL)[0].text.split()[2]
    sim.clock.advance(6)
    await poller.cycle()
    await slack.settle()
    await slack.command(f"delete {run_id}")
    answer = (await slack.replies())[0]
    value = next(
        e["value"]
        for b in answer["blocks"]
        if b.get("type") == "actions"
        for e in b["elements"]
        if e["action_id"] == "run_stop_then_delete"
    )
    # ...and a poll cycle runs while the answer to the stop is still on its way.
    sim.answer_late(seconds=1.0, method="PATCH")
    click = asyncio.create_task(slack.click("run_stop_then_delete", value, ephemeral=True))
    await fake.wait_for(lambda: sim.execution_status(run_id) == "STOPPED")
    await poller.cycle()
    await click
    for _ in range(3):
        sim.clock.advance(1)
        await poller.cycle()
        await slack.settle()
    assert sim.execution_status(run_id) is None, "the run was never deleted"


async def test_delivery_makes_no_provider_call(wired, fake_slack, sim) -> None:
    """The alert's log lines are read when the death is seen, not when the alert is sent."""
    fake, _served = fake_slack
    slack = Slack(wired, fake, fake_slack[1], sim, settle=False)
    await slack.command("start cfg-dies")
    await slack.settle()
    card = fake.messages(CHANNEL)[0]
    run_id = card.text.split()[2]
    sim.add_logs(run_id, ["loading shards", "CUDA out of memory"])
    poller = poller_of(wired, sim)
    sim.clock.advance(6)
    await poller.cycle()
    sim.clock.advance(60)
    await poller.cycle()  # DEAD: the alert is composed with its log lines now
    sim.inject_fault(status=0, delay=30, times=100)  # AI Core hangs from here on
    before = len(sim.requests)
    async with asyncio.timeout(10):
        while await slack.delivery.drain():
            pass
    assert len(sim.requests) == before
    alert = next(m for m in fake.thread(CHANNEL, card.ts) if m.reply_broadcast)
    assert "CUDA out of memory" in str(alert.blocks)
    sim.clear_faults()


async def test_one_bad_row_is_set_aside_and_delivery_goes_on(wired, fake_slack, sim) -> None:
    fake, _served = fake_slack
    await queue_messages(wired, channels=1, each=3)
    async with wired.db.session() as session, session.begin():
        # A row nobody can send: a payload of another version, and one whose follow is gone.
        first = await session.scalar(select(OutboxMessage).order_by(OutboxMessage.id))
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == first.id).values(payload={"x": 1})
        )
        values = row(
            channel="C000",
            follow_id=987654,
            message=Reply(text="for a deleted follow"),
            key=Keys.deleted(987654),
            now=wired.store.clock(),
        )
        session.add(OutboxMessage(**values))
    delivery = delivery_of(wired, sim)
    stop = asyncio.Event()
    loop = asyncio.create_task(delivery.run(stop))
    try:
        await until(lambda: nothing_pending(wired))
    finally:
        stop.set()
        await loop
    assert [m.text for m in fake.messages("C000")] == [
        "message 1 of channel 0",
        "message 2 of channel 0",
    ]
    async with wired.db.session() as session:
        aside = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.failed_at.is_not(None)))
        )
    assert len(aside) == 2 and all(r.last_error for r in aside)
    assert delivery.health.healthy


async def test_following_one_run_twice_at_once_is_one_follow(wired, twin, sim) -> None:
    run_id = sim.add_execution(configuration_id="cfg-train")
    run = await wired.service.get("aicore", "default", run_id)
    await asyncio.gather(
        *(
            components.service.follow_run(
                run, channel=CHANNEL, started_by=None, origin="watch", cause=f"race{n}"
            )
            for n, components in enumerate((wired, twin, wired, twin))
        )
    )
    async with wired.db.session() as session:
        follows = list(await session.scalars(select(Follow).where(Follow.run_id == run_id)))
    assert len(follows) == 1


async def test_leases_are_held_by_one_process_at_a_time(wired, twin) -> None:
    mine = await wired.leases.acquire("outbox:C1", 30)
    assert mine is not None
    assert await twin.leases.acquire("outbox:C1", 30) is None
    # Held past its expiry and taken over: the first holder's writes are refused.
    async with wired.db.session() as session, session.begin():
        await session.execute(update(Lease).where(Lease.name == "outbox:C1").values(expires_at=0))
    theirs = await twin.leases.acquire("outbox:C1", 30)
    assert theirs is not None and theirs.token == mine.token + 1
    assert not await wired.leases.renew(mine, 30)
    assert await twin.leases.renew(theirs, 30)


def test_replicas_starting_together_all_migrate_without_error(database_url) -> None:
    """Unguarded, two upgrades of a fresh database both create the tables; one fails."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start_replica() -> None:
        database = Database(database_url)
        try:
            barrier.wait()
            database.migrate_sync()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    replicas = [threading.Thread(target=start_replica) for _ in range(4)]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join(timeout=60)
    assert errors == []
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert [v for (v,) in versions] == [ScriptDirectory(str(MIGRATIONS)).get_current_head()]


async def test_a_card_posted_while_its_scope_is_polled_does_not_void_the_poll(
    wired, fake_slack, sim
) -> None:
    slack = Slack(wired, *fake_slack, sim, settle=False)
    await slack.command("start cfg-train")
    await slack.runner.drain()  # the start ran: its card waits in the outbox
    sim.clock.advance(6)  # RUNNING
    provider = wired.providers["aicore"]
    listed = provider.list_active

    async def list_while_the_card_goes_out(scope: str, **options: object):  # type: ignore[no-untyped-def]
        found = await listed(scope, **options)  # type: ignore[arg-type]
        await slack.delivery.drain()  # another worker posts the card meanwhile
        return found

    provider.list_active = list_while_the_card_goes_out  # type: ignore[method-assign]
    report = await poller_of(wired, sim).cycle()
    await slack.settle()
    assert report.transitions == 1  # told now, not voided until a later cycle
    card = fake_slack[0].messages(CHANNEL)[0]
    assert ["is now *RUNNING*" in m.text for m in fake_slack[0].thread(CHANNEL, card.ts)] == [True]
