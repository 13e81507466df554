"""Training parameters for /bria train: defaults per version, every refusal, the body sent."""

from __future__ import annotations

from typing import Any

import pytest

from bot.errors import InputError
from bot.providers.bria.models import TailoredModel
from bot.providers.bria.training import (
    LR_SCHEDULERS,
    SLACK_OPTION_NAMES,
    defaults_for,
    effective,
    parse_options,
    resolve,
)

FIBO = {
    "total_training_steps": 750,
    "learning_rate": 0.0001,
    "rank": 128,
    "lr_scheduler": "constant_with_warmup",
    "lr_warmup_steps": 100,
    "checkpoint_interval": 500,
}
LEGACY = {
    "total_training_steps": 1500,
    "learning_rate": 0.0001,
    "rank": 128,
    "lr_scheduler": "constant",
    "lr_warmup_steps": None,
    "checkpoint_interval": 500,
}


def model(mode: str = "expert", version: str | None = "fibo", **extra: Any) -> TailoredModel:
    return TailoredModel(
        id=42, name="m", status="Created", training_mode=mode, training_version=version, **extra
    )


# --- defaults -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["fibo", "FIBO", " fibo "])
def test_fibo_defaults(version: str) -> None:
    assert defaults_for(version) == FIBO


@pytest.mark.parametrize("version", ["max", "light", "3.2", "2.3", "bria-3.2", "bria-2.3", "Max"])
def test_legacy_defaults(version: str) -> None:
    assert defaults_for(version) == LEGACY


@pytest.mark.parametrize("version", [None, "", "fibo-2", "something-new"])
def test_no_or_unknown_version_gets_the_fibo_defaults(version: str | None) -> None:
    # The current docs are FIBO-only: a model without a version is a FIBO model.
    assert defaults_for(version) == FIBO


def test_defaults_are_copies() -> None:
    defaults_for("fibo")["rank"] = 4
    assert defaults_for("fibo")["rank"] == 128


# --- parse_options --------------------------------------------------------------------------------


def test_every_option_is_typed_and_renamed() -> None:
    parsed = parse_options(
        {
            "steps": "1200",
            "lr": "5e-5",
            "rank": "64",
            "scheduler": "Constant_With_Warmup",
            "warmup": "50",
            "checkpoint": "400",
        }
    )
    assert parsed == {
        "total_training_steps": 1200,
        "learning_rate": 5e-5,
        "rank": 64,
        "lr_scheduler": "constant_with_warmup",
        "lr_warmup_steps": 50,
        "checkpoint_interval": 400,
    }
    assert isinstance(parsed["total_training_steps"], int)
    assert isinstance(parsed["learning_rate"], float)
    assert set(SLACK_OPTION_NAMES.values()) == set(parsed)


def test_lenient_number_spellings() -> None:
    assert parse_options({"steps": "1_000", "rank": "32.0", "lr": "0.0001"}) == {
        "total_training_steps": 1000,
        "learning_rate": 0.0001,
        "rank": 32,
    }
    assert parse_options({"STEPS": " 10 "}) == {"total_training_steps": 10}


def test_no_options_is_an_empty_request() -> None:
    assert parse_options({}) == {}


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(InputError) as caught:
        parse_options({"epochs": "3"})
    message = str(caught.value)
    assert "Unknown option `epochs`" in message
    assert "steps, lr, rank, scheduler, warmup, checkpoint" in message


def test_an_api_name_gets_a_hint_to_the_slack_name() -> None:
    with pytest.raises(InputError, match=r"Unknown option `total_training_steps`.*`steps=`"):
        parse_options({"total_training_steps": "800"})


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("steps", "many", "`steps` must be a whole number"),
        ("steps", "12.5", "`steps` must be a whole number"),
        ("rank", "inf", "`rank` must be a whole number"),
        ("lr", "fast", "`lr` must be a number"),
        ("lr", "nan", "`lr` must be a number"),
        ("warmup", "", "`warmup` needs a value"),
    ],
)
def test_non_numbers_are_refused(option: str, value: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        parse_options({option: value})


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("lr", "1e-7", "`lr` must be between 1e-06 and 0.001; got 1e-07"),
        ("lr", "0.01", "`lr` must be between 1e-06 and 0.001; got 0.01"),
        ("steps", "0", "`steps` must be between 1 and 5000; got 0"),
        ("steps", "5001", "`steps` must be between 1 and 5000; got 5001"),
        ("rank", "3", "`rank` must be between 4 and 256; got 3"),
        ("rank", "512", "`rank` must be between 4 and 256; got 512"),
        ("checkpoint", "99", "`checkpoint` must be at least 100; got 99"),
        ("warmup", "-1", "`warmup` must be between 0 and 1000; got -1"),
        ("warmup", "1001", "`warmup` must be between 0 and 1000; got 1001"),
    ],
)
def test_out_of_range_values_are_refused(option: str, value: str, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_options({option: value})
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [("lr", "1e-6"), ("lr", "0.001"), ("steps", "1"), ("steps", "5000"), ("rank", "4")],
)
def test_range_bounds_are_inclusive(option: str, value: str) -> None:
    assert parse_options({option: value})


def test_scheduler_outside_the_enum_lists_it() -> None:
    with pytest.raises(InputError) as caught:
        parse_options({"scheduler": "exponential"})
    assert "`scheduler` must be one of " + ", ".join(LR_SCHEDULERS) in str(caught.value)
    assert "`exponential`" in str(caught.value)


def test_checkpoint_above_the_given_steps_is_refused() -> None:
    with pytest.raises(InputError, match=r"`checkpoint=600` is above the total training steps"):
        parse_options({"steps": "500", "checkpoint": "600"})
    assert parse_options({"steps": "500", "checkpoint": "500"})


def test_warmup_with_another_given_scheduler_is_refused() -> None:
    with pytest.raises(InputError, match=r"`warmup` only applies with `scheduler=constant_with"):
        parse_options({"scheduler": "cosine", "warmup": "10"})


# --- resolve --------------------------------------------------------------------------------------


def test_fully_automated_model_refuses_parameters() -> None:
    with pytest.raises(InputError) as caught:
        resolve(model("fully_automated"), {"rank": 64})
    message = str(caught.value)
    assert "Model 42 is in fully_automated mode, so Bria chooses the training parameters" in message


def test_fully_automated_model_without_parameters_is_fine() -> None:
    assert resolve(model("fully_automated"), {}) == {}


def test_the_body_holds_only_what_was_given() -> None:
    body = resolve(model(), parse_options({"steps": "1000", "lr": "2e-4"}))
    assert body == {"total_training_steps": 1000, "learning_rate": 2e-4}


def test_checkpoint_is_checked_against_the_versions_default_steps() -> None:
    # FIBO trains 750 steps by default: a checkpoint every 800 would never happen.
    with pytest.raises(InputError, match=r"above this model's default training steps \(750\)"):
        resolve(model(version="fibo"), parse_options({"checkpoint": "800"}))
    # Legacy trains 1500 by default: fine there.
    assert resolve(model(version="max"), {"checkpoint_interval": 800}) == {
        "checkpoint_interval": 800
    }


def test_warmup_is_checked_against_the_versions_default_scheduler() -> None:
    assert resolve(model(version="fibo"), {"lr_warmup_steps": 50}) == {"lr_warmup_steps": 50}
    with pytest.raises(InputError, match=r"`constant` \(this model's default\)"):
        resolve(model(version="light"), parse_options({"warmup": "50"}))
    body = resolve(
        model(version="light"),
        parse_options({"warmup": "50", "scheduler": "constant_with_warmup"}),
    )
    assert body == {"lr_scheduler": "constant_with_warmup", "lr_warmup_steps": 50}


@pytest.mark.parametrize(
    "requested",
    [
        {"rank": 1},
        {"rank": True},
        {"learning_rate": "0.0001"},
        {"lr_scheduler": "exponential"},
        {"epochs": 3},
        {"total_training_steps": 10.5},
    ],
)
def test_resolve_checks_values_it_is_handed_directly(requested: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        resolve(model(), requested)


def test_unknown_training_mode_is_treated_as_not_expert() -> None:
    with pytest.raises(InputError, match="is in auto_v2 mode"):
        resolve(model("auto_v2"), {"rank": 64})


# --- effective ------------------------------------------------------------------------------------


def test_effective_merges_the_request_over_the_versions_defaults() -> None:
    assert effective(model(version="fibo"), {"rank": 64}) == {**FIBO, "rank": 64}
    assert effective(model(version="max"), {}) == LEGACY


def test_effective_warmup_follows_the_scheduler() -> None:
    assert effective(model(version="fibo"), {"lr_scheduler": "cosine"})["lr_warmup_steps"] is None
    legacy_with_warmup = effective(model(version="max"), {"lr_scheduler": "constant_with_warmup"})
    assert legacy_with_warmup["lr_warmup_steps"] == 100
    given = effective(model(version="fibo"), {"lr_warmup_steps": 20})
    assert given["lr_warmup_steps"] == 20


def test_effective_without_a_version_is_fibo() -> None:
    assert effective(model(version=None), {}) == FIBO
