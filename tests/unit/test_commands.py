"""The /aicore parser: what users type, and the refusals they get before any call is made."""

from __future__ import annotations

import pytest

from bot.commands import MAX_IDS, parse_aicore, parse_bria
from bot.errors import InputError


def parse(text: str):
    return parse_aicore(text, default_resource_group="default")


def test_empty_text_and_help_give_help() -> None:
    assert parse("").name == "help"
    assert parse("  help ").name == "help"


def test_start_takes_one_configuration_id_and_rg_override() -> None:
    cmd = parse("start cfg-train-1 rg=team-a")
    assert (cmd.name, cmd.ids, cmd.resource_group) == ("start", ("cfg-train-1",), "team-a")


def test_subcommand_is_case_insensitive_and_backticks_are_ignored() -> None:
    assert parse("STATUS `abcd1234`").ids == ("abcd1234",)


def test_stop_folds_duplicates_keeping_order_and_accepts_commas() -> None:
    cmd = parse("stop e1111 e2222,e1111 e3333 e2222")
    assert cmd.ids == ("e1111", "e2222", "e3333")
    assert cmd.duplicates_folded == 2


def test_one_hundred_distinct_ids_pass_and_101_are_refused() -> None:
    ids = [f"exec{i:04d}" for i in range(MAX_IDS + 1)]
    assert len(parse("delete " + " ".join(ids[:MAX_IDS])).ids) == MAX_IDS
    with pytest.raises(InputError, match="101 distinct execution IDs; one command takes at most"):
        parse("delete " + " ".join(ids))


def test_101_ids_with_duplicates_that_fold_to_100_pass() -> None:
    ids = [f"exec{i:04d}" for i in range(MAX_IDS)]
    assert len(parse("stop " + " ".join([*ids, ids[0]])).ids) == MAX_IDS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("strat cfg1", "Did you mean `/aicore start`?"),
        ("frobnicate", "is not a /aicore command"),
        ("start " + "x" * 257, "too long for a name"),
        ("stop", "Give at least one execution ID"),
        ("stop bad/id", "not a valid execution ID"),
        ("status " + "x" * 65, "not a valid execution ID"),
        ("list FINISHED", "not an execution status"),
        ("list DEAD RUNNING", "at most one status"),
        ("logs abcd1234 lines=0", "from 1 to 1000"),
        ("logs abcd1234 lines=ten", "from 1 to 1000"),
        ("stop abcd1234 lines=5", "does not take `lines=`"),
        ("subscribe only=COMPLETED", "`only=` takes"),
        ("subscribe scenario=a", "not a valid scenario ID"),
        ("start cfg1 rg=a/b", "not a valid resource group"),
        ("start cfg1 rg=", "not a valid option"),
        ("help me", "takes no arguments"),
        ("rg=team", "Say what to do first"),
    ],
)
def test_malformed_commands_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(text)
    assert message in str(caught.value)


def test_logs_lines_and_list_status_and_subscribe_filters() -> None:
    assert parse("logs abcd1234 lines=200").lines == 200
    assert parse("logs abcd1234").lines == 50
    assert parse("list dead").status == "DEAD"
    cmd = parse("subscribe scenario=training only=dead,PENDING")
    assert (cmd.scenario, cmd.only) == ("training", ("DEAD", "PENDING"))


def test_ids_are_ascii_only() -> None:
    with pytest.raises(InputError):
        parse("status abcdé123")


@pytest.mark.parametrize(
    ("text", "ids", "name"),
    [
        ("start", (), None),  # the start form
        ("start cfg-1234", ("cfg-1234",), None),  # an ID, or a name shaped like one
        ("start train small", (), "train small"),
        ("start ab", (), "ab"),
        ("start `Train a small model` rg=team", (), "Train a small model"),
    ],
)
def test_start_takes_an_id_a_name_or_nothing(
    text: str, ids: tuple[str, ...], name: str | None
) -> None:
    cmd = parse(text)
    assert (cmd.name, cmd.ids, cmd.target_name) == ("start", ids, name)


def test_bria_train_takes_a_model_id_or_name() -> None:
    assert parse_bria("train 42 steps=100").ids == ("42",)
    named = parse_bria("train Product shots steps=100")
    assert named.target_name == "Product shots" and named.params
    with pytest.raises(InputError, match="model ID or name"):
        parse_bria("train")
