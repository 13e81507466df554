"""Starting without remembering IDs, through the real bot (``python -m bot``): by name, an
ambiguous name, the start form (its picker served through block_suggestion, a pick filling in
the parameters, a submission as Slack shapes it), a start with changed parameters (a new
configuration first), Re-run from a finished card, the App Home tab, and the DM when a run
dies.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.blocks import ACTION_RERUN, ACTION_RERUN_CHANGES
from bot.blocks.start import (
    ACTION_PICK_TARGET,
    CALLBACK_START,
    PARAM_ACTION,
    SCOPE_ACTION,
    SCOPE_BLOCK,
    TARGET_BLOCK,
)
from bot.providers.aicore.simulator import AICoreSimulator
from bot.providers.simkit import SystemClock
from tests.support.bolt import SIGNING_SECRET, buttons, flatten
from tests.support.fake_slack import FakeSlack
from tests.support.process import SignedSlackClient, running_bot
from tests.support.slack_signing import (
    JSON_CONTENT_TYPE,
    app_home_opened_body,
    block_actions_body,
    block_suggestion_body,
    button_click_body,
    sign,
    view_submission_body,
)

ALICE, BOB = "U0ALICE", "U0BOB"
_channels = itertools.count(1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("starting")
    sim = AICoreSimulator(
        clock=SystemClock(),
        pending_seconds=1,
        running_seconds=2,
        resource_groups=("default", "team-b"),
    )
    sim.add_configuration(
        "cfg-team-b", name="team-b-train", resource_group="team-b", parameters={"epochs": "1"}
    )
    sim.add_configuration(
        "cfg-small",
        name="train-small",
        scenario_id="training",
        executable_id="trainer",
        parameters={"epochs": "3", "learning_rate": "0.001"},
        input_artifacts={"data": "art-0001"},
    )
    for night in ("cfg-night-a", "cfg-night-b"):
        sim.add_configuration(night, name="nightly", scenario_id="training")
    sim.add_configuration("cfg-dies", name="will-die", scenario_id="training", outcome="DEAD")
    sim.add_configuration("cfg-long", name="long-haul", running_seconds=3600)
    fake = FakeSlack(bot_token="xoxb-test-token")
    database = f"sqlite:///{folder / 'chatops.db'}"
    with running_bot(sim.app, fake, database, POLL_INTERVAL_SECONDS="0.5") as running:
        bot, client, slack_url = running
        yield {"sim": sim, "fake": fake, "bot": bot, "slack": client, "slack_url": slack_url}


@pytest.fixture
def channel() -> str:
    return f"CSTART{next(_channels):04d}"


def answer(fake: FakeSlack, url: str, count: int = 1) -> str:
    fake.wait_for_sync(lambda: len(fake.responses_for(url)) >= count, timeout=20)
    return flatten(fake.responses_for(url)[count - 1])


def cards(fake: FakeSlack, channel: str) -> list[Any]:
    return [m for m in fake.messages(channel, include_replies=False) if m.blocks]


def form_of(fake: FakeSlack, seen: set[str]) -> dict[str, Any]:
    """The start form opened since ``seen`` (the views there were), once it is there."""
    found: list[dict[str, Any]] = []

    def opened() -> bool:
        found[:] = [
            v
            for v in fake.views.values()
            if v.get("callback_id") == CALLBACK_START and v["id"] not in seen
        ]
        return bool(found)

    fake.wait_for_sync(opened, timeout=20)
    return found[-1]


def post(slack: SignedSlackClient, body: bytes, *, json_body: bool = False) -> Any:
    headers = sign(SIGNING_SECRET, body)
    if json_body:
        headers["Content-Type"] = JSON_CONTENT_TYPE
    return slack.post(body, headers)


def picker(view: dict[str, Any]) -> str:
    """The block ID of the form's configuration picker (new once the form is filled in)."""
    return next(
        b["block_id"]
        for b in view["blocks"]
        if b.get("element", {}).get("action_id") == ACTION_PICK_TARGET
    )


def suggest(slack: SignedSlackClient, view: dict[str, Any], typed: str, user: str) -> list[Any]:
    body = block_suggestion_body(
        action_id=ACTION_PICK_TARGET, block_id=picker(view), value=typed, view=view, user_id=user
    )
    response = post(slack, body)
    assert response.status_code == 200
    return list(response.json()["options"])


def param_blocks(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b.get("block_id", "").startswith("param.")}


def pick(
    world: dict[str, Any], view: dict[str, Any], option: dict[str, Any], user: str
) -> dict[str, Any]:
    """Pick ``option`` in the form; the form as the bot redrew it with its parameters."""
    fake, slack = world["fake"], world["slack"]
    body = block_actions_body(
        action_id=ACTION_PICK_TARGET,
        value="",
        block_id=picker(view),
        user_id=user,
        view=view,
        selected_option=option,
    )
    assert post(slack, body).status_code == 200
    fake.wait_for_sync(lambda: bool(param_blocks(fake.views[view["id"]])), timeout=20)
    return dict(fake.views[view["id"]])


def submitted_values(
    view: dict[str, Any], option: dict[str, Any], *, scope: str = "default", **changed: str
) -> Any:
    """``state.values`` as Slack sends them: every input of the form, as left by the user."""
    values: dict[str, Any] = {
        SCOPE_BLOCK: {SCOPE_ACTION: {"type": "plain_text_input", "value": scope}},
        picker(view): {ACTION_PICK_TARGET: {"type": "external_select", "selected_option": option}},
    }
    for block_id, block in param_blocks(view).items():
        key = block_id.split(".", 2)[2]
        value = changed.get(key, block["element"].get("initial_value"))
        values[block_id] = {PARAM_ACTION: {"type": "plain_text_input", "value": value}}
    return values


def submit(world: dict[str, Any], view: dict[str, Any], values: Any, user: str) -> Any:
    body = view_submission_body(
        callback_id=CALLBACK_START,
        values=values,
        private_metadata=view["private_metadata"],
        view_id=view["id"],
        user_id=user,
        blocks=view["blocks"],
    )
    return post(world["slack"], body)


def open_form(world: dict[str, Any], channel: str, user: str) -> tuple[dict[str, Any], str]:
    seen = set(world["fake"].views)
    ack, url = world["slack"].command("start", channel=channel, user=user)
    assert ack.status_code == 200 and not ack.content  # the form opens instead of a message
    return form_of(world["fake"], seen), url


def test_start_by_name(world: dict[str, Any], channel: str) -> None:
    fake, slack = world["fake"], world["slack"]
    ack, url = slack.command("start train-small", channel=channel, user=ALICE)
    assert "Starting configuration `train-small`" in ack.json()["text"]
    assert "Started execution" in answer(fake, url)
    fake.wait_for_sync(lambda: cards(fake, channel))
    card = flatten(cards(fake, channel)[0].blocks)
    assert "train-small" in card and "cfg-small" in card


def test_an_ambiguous_name_gets_the_candidates_and_no_start(
    world: dict[str, Any], channel: str
) -> None:
    fake, sim, slack = world["fake"], world["sim"], world["slack"]
    starts = len(sim.calls("POST", "/lm/executions"))
    _ack, url = slack.command("start nightly", channel=channel, user=ALICE)
    text = answer(fake, url)
    assert "2 configurations in `default` are named `nightly`" in text
    assert "`cfg-night-a`" in text and "`cfg-night-b`" in text and "nothing was started" in text
    assert len(sim.calls("POST", "/lm/executions")) == starts
    assert cards(fake, channel) == []


def test_the_start_form_picks_a_configuration_and_starts_it(
    world: dict[str, Any], channel: str
) -> None:
    fake, sim = world["fake"], world["sim"]
    view, url = open_form(world, channel, ALICE)
    options = suggest(world["slack"], view, "small", ALICE)
    assert [o["value"] for o in options] == ["cfg-small"]
    assert "train-small" in options[0]["text"]["text"]
    assert {o["value"] for o in suggest(world["slack"], view, "", ALICE)} >= {
        "cfg-small",
        "cfg-night-a",
    }

    filled = pick(world, view, options[0], ALICE)
    shown = {
        k.split(".", 2)[2]: b["element"].get("initial_value")
        for k, b in param_blocks(filled).items()
    }
    assert shown == {"epochs": "3", "learning_rate": "0.001"}

    created = len(sim.calls("POST", "/lm/configurations"))
    response = submit(world, filled, submitted_values(filled, options[0]), ALICE)
    assert response.status_code == 200 and not response.content  # the form closes
    assert "Started execution" in answer(fake, url)
    fake.wait_for_sync(lambda: cards(fake, channel))
    assert "cfg-small" in flatten(cards(fake, channel)[0].blocks)
    assert len(sim.calls("POST", "/lm/configurations")) == created  # nothing changed


def test_changed_parameters_make_a_new_configuration_then_start_it(
    world: dict[str, Any], channel: str
) -> None:
    fake, sim = world["fake"], world["sim"]
    known = set(sim.configuration_ids())
    view, url = open_form(world, channel, ALICE)
    option = suggest(world["slack"], view, "train-small", ALICE)[0]
    filled = pick(world, view, option, ALICE)
    values = submitted_values(filled, option, learning_rate="0.01")
    assert submit(world, filled, values, ALICE).status_code == 200

    text = answer(fake, url)
    fake.wait_for_sync(lambda: cards(fake, channel))
    (create,) = [c for c in sim.calls("POST", "/lm/configurations") if b"0.01" in c.body]
    sent = json.loads(create.body)
    assert sent["scenarioId"] == "training" and sent["executableId"] == "trainer"
    assert sent["parameterBindings"] == [
        {"key": "epochs", "value": "3"},
        {"key": "learning_rate", "value": "0.01"},
    ]
    assert sent["inputArtifactBindings"] == [{"key": "data", "artifactId": "art-0001"}]
    assert "changed in Slack: learning_rate; from cfg-small" in sent["name"]
    (new_id,) = set(sim.configuration_ids()) - known
    started = json.loads(sim.calls("POST", "/lm/executions")[-1].body)["configurationId"]
    assert started == new_id
    assert f"new configuration `{started}`" in text and "`cfg-small`" in text
    card = flatten(cards(fake, channel)[0].blocks)
    assert started in card and "from cfg-small" in card  # the card names both


def test_the_form_answers_problems_in_its_fields(world: dict[str, Any], channel: str) -> None:
    view, _url = open_form(world, channel, ALICE)
    values = {SCOPE_BLOCK: {SCOPE_ACTION: {"type": "plain_text_input", "value": "no/such"}}}
    response = submit(world, view, values, ALICE)
    body = response.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {SCOPE_BLOCK, TARGET_BLOCK}


def test_rerun_starts_the_same_configuration_on_a_new_card_linked_from_the_old(
    world: dict[str, Any], channel: str
) -> None:
    fake, slack = world["fake"], world["slack"]
    _ack, url = slack.command("start cfg-small", channel=channel, user=ALICE)
    answer(fake, url)

    def finished() -> bool:
        found = cards(fake, channel)
        return bool(found) and ACTION_RERUN in buttons(found[0].blocks)

    fake.wait_for_sync(finished, timeout=30)
    old = cards(fake, channel)[0]
    fake.wait_for_sync(lambda: "COMPLETED" in str([r.text for r in fake.thread(channel, old.ts)]))
    value = next(
        e["value"]
        for b in old.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == ACTION_RERUN
    )
    # Slack holds the new card back for 25 s (a busy channel): the link still comes.
    fake.fail("chat.postMessage", status=429, retry_after=25, channel=channel)
    _ack, url = slack.click(ACTION_RERUN, value, channel=channel, message_ts=old.ts, user=BOB)
    assert "Started execution" in answer(fake, url)
    fake.wait_for_sync(lambda: len(cards(fake, channel)) == 2, timeout=60)
    new = cards(fake, channel)[1]
    assert "cfg-small" in flatten(new.blocks)

    def linked() -> list[Any]:
        return [r for r in fake.thread(channel, old.ts) if "Re-run by" in r.text]

    fake.wait_for_sync(lambda: bool(linked()), timeout=40)
    (reply,) = linked()
    assert f"<@{BOB}>" in reply.text and new.ts.replace(".", "") in reply.text
    posts = [c for c in fake.calls_to("chat.postMessage") if c.args.get("channel") == channel]
    held = [c.args.get("text", "") for c in posts if c.status == 429]
    assert held == [new.text]  # the new card was the message held back


def test_the_app_home_shows_my_runs_and_what_runs_in_followed_groups(
    world: dict[str, Any], channel: str
) -> None:
    fake, sim, slack = world["fake"], world["sim"], world["slack"]
    _ack, url = slack.command("start cfg-small", channel=channel, user=ALICE)
    mine = answer(fake, url).split("`")[1]
    slack.command("subscribe", channel=channel, user=BOB)
    elsewhere = sim.add_execution(configuration_id="cfg-long", status="RUNNING")
    # The poller adopts the run started outside Slack for the subscribed channel.
    fake.wait_for_sync(lambda: any(elsewhere in m.text for m in cards(fake, channel)), timeout=30)

    response = post(slack, app_home_opened_body(user_id=ALICE), json_body=True)
    assert response.status_code == 200

    def published() -> str:
        home = fake.home_view(ALICE)
        return flatten(home["blocks"]) if home else ""

    fake.wait_for_sync(lambda: mine in published() and elsewhere in published(), timeout=20)
    home = fake.home_view(ALICE)
    assert home is not None
    text = published()
    assert text.index("Your recent runs") < text.index(mine) < text.index("Running in followed")
    assert text.index("Running in followed") < text.index(elsewhere)
    assert "home_start" in json.dumps(home) and "run_stop" in buttons(home["blocks"])


def test_whoever_started_a_run_that_dies_hears_it_directly(
    world: dict[str, Any], channel: str
) -> None:
    fake, slack = world["fake"], world["slack"]
    _ack, url = slack.command("start cfg-dies", channel=channel, user=ALICE)
    run_id = answer(fake, url).split("`")[1]
    fake.wait_for_sync(lambda: fake.direct_channel(ALICE) is not None, timeout=30)

    def told() -> list[Any]:
        dm = fake.direct_channel(ALICE)
        return [m for m in fake.messages(dm or "-") if run_id in m.text]

    fake.wait_for_sync(lambda: bool(told()), timeout=30)
    (message,) = told()
    assert "is *DEAD*" in message.text and f"<#{channel}>" in flatten(message.blocks)


def test_rerun_with_changes_opens_the_form_filled_in_and_keeps_the_old_card(
    world: dict[str, Any], channel: str
) -> None:
    fake, sim, slack = world["fake"], world["sim"], world["slack"]
    _ack, url = slack.command("start cfg-small", channel=channel, user=ALICE)
    answer(fake, url)
    fake.wait_for_sync(
        lambda: any(ACTION_RERUN in buttons(c.blocks) for c in cards(fake, channel)), timeout=30
    )
    old = cards(fake, channel)[0]
    value = next(
        e["value"]
        for b in old.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == ACTION_RERUN_CHANGES
    )
    seen = set(fake.views)
    # Slack's response URL of a click can replace the clicked message: the old card.
    url = fake.response_url(world["slack_url"], channel=channel, user=ALICE, original_ts=old.ts)
    click = button_click_body(
        action_id=ACTION_RERUN_CHANGES,
        value=value,
        user_id=ALICE,
        channel_id=channel,
        message_ts=old.ts,
        response_url=url,
    )
    assert post(slack, click).status_code == 200
    form = form_of(fake, seen)
    fake.wait_for_sync(lambda: bool(param_blocks(fake.views[form["id"]])), timeout=20)
    filled = fake.views[form["id"]]
    assert "train-small" in json.dumps(filled)  # picked already
    known = set(sim.configuration_ids())
    # As Slack may send a form views.update filled in: untouched inputs come back as null.
    values: dict[str, Any] = {
        SCOPE_BLOCK: {SCOPE_ACTION: {"type": "plain_text_input", "value": None}},
        picker(filled): {ACTION_PICK_TARGET: {"type": "external_select", "selected_option": None}},
    }
    for block_id in param_blocks(filled):
        typed = "5" if block_id.endswith(".epochs") else None
        values[block_id] = {PARAM_ACTION: {"type": "plain_text_input", "value": typed}}
    assert submit(world, filled, values, ALICE).status_code == 200

    assert "of the new configuration" in answer(fake, url)
    (new_id,) = set(sim.configuration_ids()) - known
    assert sim.configuration_json(new_id)["parameterBindings"] == [
        {"key": "epochs", "value": "5"},
        {"key": "learning_rate", "value": "0.001"},  # untouched: kept
    ]
    fake.wait_for_sync(lambda: len(cards(fake, channel)) == 2, timeout=20)
    kept = fake.messages(channel, include_replies=False)[0]
    assert kept.ts == old.ts and ACTION_RERUN in buttons(kept.blocks)  # not replaced


def test_the_form_lists_reads_and_starts_in_the_resource_group_typed_into_it(
    world: dict[str, Any], channel: str
) -> None:
    fake, sim = world["fake"], world["sim"]
    view, url = open_form(world, channel, ALICE)
    typed = {SCOPE_BLOCK: {SCOPE_ACTION: {"type": "plain_text_input", "value": "team-b"}}}
    view = {**view, "state": {"values": typed}}  # Slack sends the form as it is now
    options = suggest(world["slack"], view, "", ALICE)
    assert [o["value"] for o in options] == ["cfg-team-b"]
    filled = pick(world, view, options[0], ALICE)  # its parameters, read in team-b
    assert [k.rsplit(".", 1)[1] for k in param_blocks(filled)] == ["epochs"]
    values = submitted_values(filled, options[0], scope="team-b")
    assert submit(world, filled, values, ALICE).status_code == 200
    assert "Started execution" in answer(fake, url)
    started = sim.calls("POST", "/lm/executions")[-1]
    assert started.headers.get("ai-resource-group") == "team-b"
