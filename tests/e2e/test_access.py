"""Who may do what, through the real bot (``python -m bot``) with an access policy file.

The fake Slack knows two user groups; the AI Core simulator has a plain resource group and a
protected one. Every refusal is checked for its words, for the audit trail, and for costing no
call to AI Core at all.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.blocks import (
    ACTION_BULK_CONFIRM,
    ACTION_STOP,
    CALLBACK_PROTECTED,
    TYPED_ACTION,
    TYPED_BLOCK,
)
from bot.providers.aicore.simulator import AICoreSimulator
from tests.support.bolt import SIGNING_SECRET, buttons, flatten
from tests.support.fake_slack import FakeSlack
from tests.support.process import ROOT, BotProcess, SignedSlackClient, bot_env
from tests.support.servers import ServedApp
from tests.support.slack_signing import sign, view_submission_body

BOT_TOKEN = "xoxb-test-token"
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"
USERGROUPS = [
    {"id": "S0DATA", "handle": "data-science", "name": "Data science", "users": [ALICE, BOB]},
    {"id": "S0PLATFORM", "handle": "ml-platform", "name": "ML platform", "users": [BOB]},
]
POLICY = """\
[[allow]]
actions = ["status", "list", "logs", "audit"]

[[allow]]
actions = ["start", "stop"]
resource_groups = ["default"]
usergroups = ["data-science"]      # a handle, resolved with usergroups.list

[[allow]]
actions = ["*"]
usergroups = ["S0PLATFORM"]        # an ID

[[protect]]
resource_groups = ["prod-*"]
"""
_channels = itertools.count(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("access")
    policy = folder / "policy.toml"
    policy.write_text(POLICY)
    sim = AICoreSimulator(
        pending_seconds=5, running_seconds=600, resource_groups=("default", "prod-eu")
    )
    sim.add_configuration("cfg-train", name="resnet-train", scenario_id="training")
    sim.add_configuration("cfg-prod", name="prod-train", resource_group="prod-eu")
    fake = FakeSlack(bot_token=BOT_TOKEN, usergroups=USERGROUPS)
    with ServedApp(sim.app) as sim_server, ServedApp(fake.app) as slack_server:
        env = bot_env(
            slack_url=slack_server.url,
            aicore_url=sim_server.url,
            database_url=f"sqlite:///{folder / 'chatops.db'}",
            ACCESS_POLICY=str(policy),
        )
        bot = BotProcess(env).start()
        client = SignedSlackClient(
            bot.url, SIGNING_SECRET, lambda: fake.response_url(slack_server.url)
        )
        try:
            yield {"sim": sim, "fake": fake, "bot": bot, "slack": client, "policy": policy}
        finally:
            client.close()
            bot.stop()


@pytest.fixture
def channel() -> str:
    return f"CACCESS{next(_channels):03d}"


def answer(fake: FakeSlack, url: str, count: int = 1) -> str:
    fake.wait_for_sync(lambda: len(fake.responses_for(url)) >= count)
    return flatten(fake.responses_for(url)[count - 1])


def calls_on(sim: AICoreSimulator, *run_ids: str) -> int:
    """Requests to AI Core on these runs: what a stop or delete reads and writes.

    Only these count, because the bot's poller keeps listing the resource groups of the
    other tests' runs in the background; a count of every request would race with it.
    """
    paths = {f"/lm/executions/{run_id}" for run_id in run_ids}
    return len([r for r in sim.requests if r.path in paths])


def test_a_group_member_starts_and_the_start_is_audited(
    world: dict[str, Any], channel: str
) -> None:
    fake, slack = world["fake"], world["slack"]
    ack, url = slack.command("start cfg-train", channel=channel, user=ALICE)
    assert ack.status_code == 200 and "Starting configuration" in ack.json()["text"]
    assert "Started execution" in answer(fake, url)
    fake.wait_for_sync(lambda: fake.messages(channel, include_replies=False))
    run_id = fake.messages(channel, include_replies=False)[0].text.split()[2]

    _, url = slack.command(f"audit {run_id}", channel=channel, user=CAROL)
    shown = answer(fake, url)
    assert f"<@{ALICE}> *start* `{run_id}` in `default`" in shown and "done" in shown
    assert "configuration cfg-train" in shown


def test_a_delete_the_policy_does_not_allow_is_refused_without_a_call(
    world: dict[str, Any], channel: str
) -> None:
    fake, sim, slack = world["fake"], world["sim"], world["slack"]
    done = sim.add_execution(configuration_id="cfg-train", status="COMPLETED")
    calls = calls_on(sim, done)
    ack, _url = slack.command(f"delete {done}", channel=channel, user=ALICE)
    assert ack.status_code == 200
    refusal = ack.json()["text"]
    assert refusal == (
        ":no_entry: The access policy does not let you *delete* in resource group `default`, "
        "so nothing was done. The team that keeps the policy can change it."
    )
    assert calls_on(sim, done) == calls and sim.execution_status(done) == "COMPLETED"

    _, url = slack.command(f"audit {done}", channel=channel, user=CAROL)
    assert f"<@{ALICE}> *delete* `{done}` in `default`" in answer(fake, url)
    assert "refused by the access policy" in answer(fake, url)


def test_a_member_of_a_group_named_by_id_deletes(world: dict[str, Any], channel: str) -> None:
    fake, sim, slack = world["fake"], world["sim"], world["slack"]
    done = sim.add_execution(configuration_id="cfg-train", status="DEAD")
    _, url = slack.command(f"delete {done}", channel=channel, user=BOB)
    question = answer(fake, url)
    assert "Delete" in question
    token = _button_value(fake.responses_for(url)[0], ACTION_BULK_CONFIRM)
    _, confirmed = slack.click(
        ACTION_BULK_CONFIRM, token, channel=channel, message_ts=None, user=BOB
    )
    assert "1 accepted" in answer(fake, confirmed) or "deleted" in answer(fake, confirmed).lower()
    assert len(sim.calls("DELETE", f"/lm/executions/{done}")) == 1


def test_a_click_on_someone_elses_card_is_checked_against_the_clicker(
    world: dict[str, Any], channel: str
) -> None:
    fake, sim, slack = world["fake"], world["sim"], world["slack"]
    _, url = slack.command("start cfg-train", channel=channel, user=ALICE)
    answer(fake, url)
    fake.wait_for_sync(lambda: fake.messages(channel, include_replies=False))
    card = fake.messages(channel, include_replies=False)[0]
    run_id = card.text.split()[2]
    value = buttons(card.blocks)[ACTION_STOP]["value"]
    calls = calls_on(sim, run_id)

    ack, url = slack.click(ACTION_STOP, value, channel=channel, message_ts=card.ts, user=CAROL)
    assert ack.status_code == 200
    assert "does not let you *stop* in resource group `default`" in answer(fake, url)
    assert calls_on(sim, run_id) == calls
    assert not sim.calls("PATCH", f"/lm/executions/{run_id}")

    # The card's owner may: the same button, clicked by alice, stops it.
    _, url = slack.click(ACTION_STOP, value, channel=channel, message_ts=card.ts, user=ALICE)
    assert "1 accepted" in answer(fake, url)
    assert len(sim.calls("PATCH", f"/lm/executions/{run_id}")) == 1


def test_a_protected_stop_asks_for_the_id_and_a_wrong_id_does_nothing(
    world: dict[str, Any], channel: str
) -> None:
    fake, sim, slack = world["fake"], world["sim"], world["slack"]
    running = sim.add_execution(
        configuration_id="cfg-prod", status="RUNNING", resource_group="prod-eu"
    )
    calls = calls_on(sim, running)
    ack, url = slack.command(f"stop {running} rg=prod-eu", channel=channel, user=BOB)
    assert ack.status_code == 200
    fake.wait_for_sync(lambda: _modal(fake, running) is not None)
    modal = _modal(fake, running)
    assert modal is not None and "protected resource group" in flatten(modal["blocks"])
    assert calls_on(sim, running) == calls  # the modal opens before any call to AI Core

    # The modal's token on a Confirm button (tampered, or one made before the group was
    # protected) does not execute it: only the typed ID does.
    token = json.loads(modal["private_metadata"])["token"]
    _, tampered = slack.click(
        ACTION_BULK_CONFIRM, token, channel=channel, message_ts=None, user=BOB
    )
    assert "needs the run's ID typed" in answer(fake, tampered)

    wrong = _submit(slack, modal, typed="not-the-id", user=BOB)
    assert wrong.status_code == 200
    assert wrong.json()["response_action"] == "errors"
    assert "not this run's ID" in wrong.json()["errors"][TYPED_BLOCK]
    assert not sim.calls("PATCH", f"/lm/executions/{running}")

    intruder = _submit(slack, modal, typed=running, user=ALICE)
    assert "Only the person who asked" in intruder.json()["errors"][TYPED_BLOCK]
    assert not sim.calls("PATCH", f"/lm/executions/{running}")

    right = _submit(slack, modal, typed=running, user=BOB)
    assert right.status_code == 200 and not right.content.strip()  # the modal closes
    assert "1 accepted" in answer(fake, url)
    assert not fake.responses_for(url)[-1].get("replace_original")  # a new message
    assert len(sim.calls("PATCH", f"/lm/executions/{running}")) == 1
    assert sim.execution_status(running, resource_group="prod-eu") == "STOPPING"

    # Several runs in a protected group: one at a time, and nothing is done.
    others = [
        sim.add_execution(configuration_id="cfg-prod", status="RUNNING", resource_group="prod-eu")
        for _ in range(2)
    ]
    calls, bulk = calls_on(sim, *others), len(sim.calls("PATCH", "/lm/executions"))
    ack, _ = slack.command(f"stop {' '.join(others)} rg=prod-eu", channel=channel, user=BOB)
    assert "protected resource group" in ack.json()["text"]
    # Had the refusal recorded any work, a worker would have done it by the time it answers
    # a later command.
    _, later = slack.command(f"status {others[0]} rg=prod-eu", channel=channel, user=BOB)
    assert others[0] in answer(fake, later)
    assert calls_on(sim, *others) == calls + 1  # the status read, nothing else
    assert len(sim.calls("PATCH", "/lm/executions")) == bulk
    assert all(sim.execution_status(r, resource_group="prod-eu") == "RUNNING" for r in others)


def test_a_changed_policy_is_used_without_a_restart(world: dict[str, Any], channel: str) -> None:
    fake, slack, policy = world["fake"], world["slack"], world["policy"]
    ack, _ = slack.command("subscribe", channel=channel, user=CAROL)
    assert "does not let you *subscribe*" in ack.json()["text"]
    try:
        policy.write_text(POLICY + f'\n[[allow]]\nactions = ["subscribe"]\nusers = ["{CAROL}"]\n')
        ack, url = slack.command("subscribe", channel=channel, user=CAROL)
        assert ack.status_code == 200 and not ack.content.strip()
        assert "subscribed this channel" in answer(fake, url)
        # A broken edit keeps the policy in force (and the log says why).
        policy.write_text(POLICY + "\n[[allow]]\nactions = [\n")
        ack, _ = slack.command("subscribe", channel=channel, user=CAROL)
        assert ack.status_code == 200 and "does not let you" not in ack.text
        assert "keeping the policy in force" in world["bot"].log()
    finally:
        policy.write_text(POLICY)


def test_a_malformed_policy_stops_start_up_with_one_line(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[[allow]]\nactions = ["start"]\nusers = ["alice"]\n')
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "AICORE_CLIENT_ID": "id",
        "AICORE_CLIENT_SECRET": "secret-value",
        "AICORE_AUTH_URL": "http://127.0.0.1:9",
        "AICORE_BASE_URL": "http://127.0.0.1:9",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'chatops.db'}",
        "ACCESS_POLICY": str(policy),
        "PORT": "0",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if "cannot start" in line]
    assert len(lines) == 1, done.stderr
    assert (
        f"cannot start: ACCESS_POLICY {policy}, line 3: [[allow]] number 1, `users`: `alice` "
        "is not a Slack user ID"
    ) in lines[0]
    assert "listening on" not in done.stderr + done.stdout


def _button_value(response: dict[str, Any], action_id: str) -> str:
    return str(buttons(response["blocks"])[action_id]["value"])


def _modal(fake: FakeSlack, run_id: str) -> dict[str, Any] | None:
    for view in fake.views.values():
        if view.get("callback_id") == CALLBACK_PROTECTED and run_id in json.dumps(view["blocks"]):
            return view
    return None


def _submit(slack: SignedSlackClient, modal: dict[str, Any], *, typed: str, user: str) -> Any:
    body = view_submission_body(
        callback_id=CALLBACK_PROTECTED,
        values={TYPED_BLOCK: {TYPED_ACTION: {"type": "plain_text_input", "value": typed}}},
        private_metadata=modal["private_metadata"],
        view_id=modal["id"],
        user_id=user,
    )
    return slack.post(body, sign(SIGNING_SECRET, body))
