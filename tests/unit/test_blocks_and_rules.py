"""Pure builders and state rules: cards, buttons, refusals, limits, lifecycles."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bot import blocks
from bot.commands import parse_bria
from bot.errors import InputError
from bot.providers.base import Lifecycle, LogEntry, Outcome, Run
from tests.support.runs import AICORE, BRIA
from tests.support.runs import sample_run as run


@pytest.mark.parametrize(
    ("status", "stop", "delete"),
    [
        ("PENDING", True, False),
        ("RUNNING", True, False),
        ("COMPLETED", False, True),
        ("DEAD", False, True),
        ("STOPPING", False, False),
        ("STOPPED", False, True),
        ("UNKNOWN", False, True),
    ],
)
def test_ai_core_status_rules_follow_the_documented_table(status, stop, delete) -> None:
    assert AICORE.allows(status, "stop") is stop
    assert AICORE.allows(status, "delete") is delete


@pytest.mark.parametrize(
    ("status", "stop", "delete", "lifecycle"),
    [
        ("Created", False, True, Lifecycle.QUEUED),
        ("InProgress", True, False, Lifecycle.RUNNING),
        ("Completed", False, True, Lifecycle.SUCCEEDED),
        ("Failed", False, True, Lifecycle.FAILED),
        ("Stopping", False, False, Lifecycle.STOPPING),
        ("Stopped", False, True, Lifecycle.STOPPED),
        ("syncing", False, False, Lifecycle.RUNNING),
    ],
)
def test_bria_status_rules_and_lifecycle(status, stop, delete, lifecycle) -> None:
    assert BRIA.allows(status, "stop") is stop
    assert BRIA.allows(status, "delete") is delete
    assert BRIA.lifecycle_of(status) == lifecycle


def test_unknown_statuses_map_to_unknown_and_allow_nothing_risky() -> None:
    assert AICORE.lifecycle_of("QUEUED_SOMEWHERE") == Lifecycle.UNKNOWN
    assert not AICORE.allows("QUEUED_SOMEWHERE", "stop")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("RUNNING", ["run_stop", "run_logs", "run_refresh"]),
        ("DEAD", ["run_delete", "run_logs", "run_refresh", "run_rerun", "run_rerun_changes"]),
        ("STOPPING", ["run_logs", "run_refresh"]),
        (
            "COMPLETED",
            ["run_delete", "run_logs", "run_refresh", "run_rerun", "run_rerun_changes"],
        ),
    ],
)
def test_card_shows_the_buttons_its_status_allows(status: str, expected: list[str]) -> None:
    card = blocks.run_card(run(status), style=AICORE.style, started_by="U42")
    actions = next(b for b in card if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == expected
    for element in actions["elements"]:
        if element["action_id"] in ("run_stop", "run_delete"):
            assert element["style"] == "danger" and element["confirm"]["style"] == "danger"
        ref = {"p": "aicore", "s": "default", "r": "e0001abc"}
        if element["action_id"].startswith("run_rerun"):
            ref["t"] = "cfg1"  # the configuration to start again
        assert json.loads(element["value"]) == ref
    text = json.dumps(card)
    assert "<@U42>" in text and "resnet (`cfg1`)" in text and "<!date^" in text


def test_bria_cards_use_bria_words_and_have_no_logs_button() -> None:
    card = blocks.run_card(run("InProgress", BRIA), style=BRIA.style)
    text = json.dumps(card)
    assert "*Model*" in text and "*Account*" in text and "Configuration" not in text
    assert "run_logs" not in text


def test_rerun_asks_in_a_confirm_dialog_and_bria_cards_offer_no_rerun() -> None:
    card = blocks.run_card(run("STOPPED"), style=AICORE.style)
    rerun = next(
        e
        for b in card
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "run_rerun"
    )
    assert "resnet" in rerun["confirm"]["text"]["text"] and rerun["confirm"]["confirm"]["text"]
    assert "run_rerun" not in json.dumps(blocks.run_card(run("Failed", BRIA), style=BRIA.style))


def test_deleted_card_has_no_buttons() -> None:
    card = blocks.run_card(run("DELETED"), style=AICORE.style, deleted=True, note="Deleted by x")
    assert not [b for b in card if b["type"] == "actions"]


def test_a_long_status_message_is_clipped_to_slacks_limit() -> None:
    card = blocks.run_card(run("DEAD", status_message="x" * 5000), style=AICORE.style)
    assert all(len(b["text"]["text"]) <= 3000 for b in card if b["type"] == "section")


@pytest.mark.parametrize(
    ("status", "action", "words"),
    [
        ("COMPLETED", "stop", "only PENDING or RUNNING runs can be stopped"),
        ("STOPPING", "stop", "it is already stopping"),
        ("RUNNING", "delete", "stop it first"),
        ("PENDING", "delete", "stop it first"),
    ],
)
def test_refusals_say_why(status: str, action, words: str) -> None:
    text = blocks.refusal_text(run(status), action, AICORE.style)
    assert words in text and "Nothing was changed" in text


def test_a_confirmation_for_100_runs_fits_slacks_limits() -> None:
    many = [
        Run(
            provider="aicore",
            scope="default",
            id=f"exec{i:04d}",
            status="DEAD",
            lifecycle=Lifecycle.FAILED,
            title="t" * 60,
        )
        for i in range(100)
    ]
    missing = [(f"miss{i:04d}", "no such run") for i in range(100)]
    message = blocks.confirmation_blocks(
        action="delete",
        label="AI Core",
        eligible=many,
        ineligible=[(many[0], "why")] * 50,
        missing=missing,
        token="tok",
        folded=3,
    )
    assert len(message) <= blocks.MESSAGE_BLOCK_LIMIT
    assert sum(len(json.dumps(b)) for b in message) < 13000
    assert "…and 60 more" in json.dumps(message, ensure_ascii=False)


def test_outcomes_show_request_ids_of_refusals() -> None:
    message = blocks.outcome_blocks(
        action="stop",
        label="AI Core",
        user_id="U1",
        outcomes=[
            Outcome("a0000001", True, "scheduled"),
            Outcome("b0000002", False, "Execution not found", code="01010020", request_id="r-9"),
        ],
    )
    text = json.dumps(message)
    assert "1 accepted, 1 refused" in text and "r-9" in text and "01010020" in text


def test_log_text_keeps_the_newest_lines_within_budget() -> None:
    entries = [LogEntry(None, f"line {i} " + "y" * 100) for i in range(500)]
    text = blocks.log_text(entries, budget=2000)
    assert len(text) <= 2000 and text.endswith("y" * 100) and "line 499" in text
    assert "line 0 " not in text


def test_digest_of_many_lines_stays_within_limits() -> None:
    message = blocks.digest_blocks(
        "*200 changes*", [f"`e{i}` is now *DEAD* " + "z" * 80 for i in range(200)]
    )
    assert len(message) <= blocks.MESSAGE_BLOCK_LIMIT
    assert all(len(b["text"]["text"]) <= 3000 for b in message)
    assert "…and 160 more" in json.dumps(message, ensure_ascii=False)


def test_alert_without_public_url_offers_the_logs_button() -> None:
    alert = blocks.alert_blocks(
        run("DEAD", status_message="OOMKilled"),
        label="AI Core",
        kind="dead",
        entries=[LogEntry(None, "boom")],
    )
    text = json.dumps(alert)
    assert "run_logs" in text and "OOMKilled" in text and "boom" in text


def test_pending_alert_reads_its_duration() -> None:
    alert = blocks.alert_blocks(
        run("PENDING"),
        label="AI Core",
        kind="pending",
        waited_seconds=16 * 60 + 5,
        link="https://x/logs",
    )
    assert "has been PENDING for 16 min" in json.dumps(alert)


@pytest.mark.parametrize(("seconds", "words"), [(45, "45 s"), (960, "16 min"), (7500, "2 h 5 min")])
def test_duration(seconds: float, words: str) -> None:
    assert blocks.duration(seconds) == words


def test_bria_parser() -> None:
    cmd = parse_bria("train 42 steps=1000 lr=0.0002")
    assert (cmd.name, cmd.provider, cmd.ids, cmd.params) == (
        "start",
        "bria",
        ("42",),
        {"total_training_steps": 1000, "learning_rate": 0.0002},
    )
    assert parse_bria("").name == "help"
    assert parse_bria("list failed").status == "Failed"
    with pytest.raises(InputError, match="takes no options"):
        parse_bria("stop 42 steps=3")


HOSTILE = "<!channel> & <https://evil.example|the docs> <@U0BOSS>"


def test_provider_text_is_shown_literally_never_read_as_mrkdwn_controls() -> None:
    hostile = dataclasses.replace(
        run("DEAD"),
        title=HOSTILE,
        status_message=HOSTILE,
        scenario=HOSTILE,
        details=(("Model", HOSTILE),),
    )
    drawn = json.dumps(
        [
            blocks.run_card(hostile, style=AICORE.style),
            blocks.alert_blocks(
                hostile,
                label="AI Core",
                kind="dead",
                entries=[LogEntry(None, HOSTILE)],
                logs_problem=HOSTILE,
            ),
            blocks.transition_text(hostile, "RUNNING", "AI Core"),
            blocks.confirmation_blocks(
                action="delete",
                label="AI Core",
                eligible=[hostile],
                ineligible=[],
                missing=[("e0009zzz", HOSTILE)],
                token="t",
            ),
            blocks.outcome_blocks(
                action="delete",
                label="AI Core",
                user_id="U1",
                outcomes=[Outcome("e0001abc", False, HOSTILE, code="<x>", request_id="<y>")],
            ),
            blocks.list_blocks([hostile], label="AI Core", scope="default", status=None),
        ]
    )
    assert "<!channel>" not in drawn and "<https://evil" not in drawn and "<@U0BOSS>" not in drawn
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|the docs&gt;" in drawn
