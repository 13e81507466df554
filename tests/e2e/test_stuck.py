"""A run that hangs, through the real bot (``python -m bot``): RUNNING but silent for longer
than ``STUCK_ALERT_SECONDS``, it gets one alert in its card's thread; a run that keeps logging
gets none."""

from __future__ import annotations

from typing import Any

from bot.providers.aicore.simulator import AICoreSimulator
from bot.providers.simkit import SystemClock
from tests.support.fake_slack import FakeSlack
from tests.support.process import running_bot

CHANNEL = "CSTUCK001"


def test_a_silent_run_is_told_once_and_one_that_keeps_logging_is_not(tmp_path: Any) -> None:
    # Steps are logged every 1.8 s (20 s of running spread over 10 steps, then 2 minutes more).
    sim = AICoreSimulator(clock=SystemClock(), pending_seconds=0.5, running_seconds=20)
    sim.add_configuration("cfg-hangs", running_seconds=120, silent_after_seconds=1)
    sim.add_configuration("cfg-busy", running_seconds=120)
    fake = FakeSlack(bot_token="xoxb-test-token")
    database = f"sqlite:///{tmp_path / 'chatops.db'}"
    # STUCK_ALERT_SECONDS=4: checked every 2 s.
    settings = {"POLL_INTERVAL_SECONDS": "0.5", "STUCK_ALERT_SECONDS": "4"}
    with running_bot(sim.app, fake, database, **settings) as (_, slack, _url):

        def cards() -> list[Any]:
            return [m for m in fake.messages(CHANNEL, include_replies=False) if m.blocks]

        for name in ("cfg-hangs", "cfg-busy"):
            slack.command(f"start {name}", channel=CHANNEL)
        fake.wait_for_sync(lambda: len(cards()) == 2)

        def told(config: str) -> list[Any]:
            card = next(c for c in cards() if config in str(c.blocks))
            return [r for r in fake.thread(CHANNEL, card.ts) if "no log line" in r.text]

        fake.wait_for_sync(lambda: bool(told("cfg-hangs")), timeout=20)
        assert told("cfg-busy") == []  # it wrote a line less than 4 s ago at every check
        hung = told("cfg-hangs")
        assert len(hung) == 1 and hung[0].reply_broadcast
        assert "RUNNING" in hung[0].text
    calls = [r for r in sim.requests if r.path.endswith("/logs")]
    assert calls and all(r.query.get("$top") == "1" for r in calls)  # one line per check
