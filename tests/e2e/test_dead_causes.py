"""Why a run died, through the real bot (``python -m bot``): one run per cause class dies in
the simulator, and each DEAD alert in the channel names its likely cause and what to do; a
death the table does not know gets no guess."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.providers.aicore.simulator import AICoreSimulator
from bot.providers.simkit import SystemClock
from bot.triage import CAUSES
from tests.support.bolt import flatten
from tests.support.fake_slack import FakeSlack
from tests.support.process import running_bot

FAILED = "Execution failed"  # what AI Core says when the logs have to tell the rest
DEATHS: dict[str, tuple[str, tuple[str, ...]]] = {
    # cause: (status message, last log lines)
    "gpu_out_of_memory": (
        FAILED,
        ("loss.backward()", "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried 2.00 GiB"),
    ),
    "process_out_of_memory": ("Pod OOMKilled: exit code 137", ("loading shards",)),
    "image_pull": ('Back-off pulling image "acme/train:9": ImagePullBackOff', ()),
    "missing_secret": ("Object store secret 'default' not found in resource group", ()),
    "quota": ("0/4 nodes are available: 4 Insufficient nvidia.com/gpu", ()),
    "nan_loss": (FAILED, ("step 100 | loss: 0.71", "step 200 | loss: nan", "diverged")),
    "missing_input": (FAILED, ("FileNotFoundError: [Errno 2] No such file: '/app/data/x'",)),
    "permission_denied": (FAILED, ("PermissionError: [Errno 13] Permission denied: '/out'",)),
    "unknown": (FAILED, ("ValueError: unknown optimizer 'adamw2'",)),
}
CHANNEL = "CTRIAGE01"


@pytest.fixture(scope="module")
def alerts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Each configuration's DEAD alert, as the channel shows it."""
    folder = tmp_path_factory.mktemp("triage")
    sim = AICoreSimulator(clock=SystemClock(), pending_seconds=0.5, running_seconds=1)
    for cause, (message, lines) in DEATHS.items():
        sim.add_configuration(
            f"cfg-{cause}", outcome="DEAD", status_message=message, last_words=lines or None
        )
    fake = FakeSlack(bot_token="xoxb-test-token")
    database = f"sqlite:///{folder / 'chatops.db'}"
    with running_bot(sim.app, fake, database, POLL_INTERVAL_SECONDS="0.5") as (_, slack, _url):
        for cause in DEATHS:
            assert slack.command(f"start cfg-{cause}", channel=CHANNEL)[0].status_code == 200

        def dead() -> list[Any]:
            return [m for m in fake.messages(CHANNEL) if m.reply_broadcast]

        fake.wait_for_sync(lambda: len(dead()) == len(DEATHS), timeout=60)
        by_config = {}
        for message in dead():
            text = flatten(message.blocks)
            cause = next(c for c in DEATHS if f"cfg-{c}" in text)
            by_config[cause] = text
        yield by_config


@pytest.mark.parametrize("cause", [c.key for c in CAUSES])
def test_the_dead_alert_names_the_likely_cause_and_what_to_do(
    alerts: dict[str, str], cause: str
) -> None:
    expected = next(c for c in CAUSES if c.key == cause)
    text = alerts[cause]
    assert f"Likely cause:* {expected.title}" in text and expected.hint.split(" ")[0] in text
    # The cause comes before the log lines it was read from.
    if "log lines" in text:
        assert text.index("Likely cause") < text.index("log lines")


def test_a_death_the_table_does_not_know_gets_no_guess(alerts: dict[str, str]) -> None:
    assert "Likely cause" not in alerts["unknown"] and "unknown optimizer" in alerts["unknown"]
