"""Training parameters for ``/bria train``: Slack options in, Bria's request body out.

Pure functions, no I/O: every refusal here happens before any call to Bria, in a sentence the
user can act on (the message of :class:`~bot.errors.InputError` is shown as is).

Flow: ``parse_options`` turns ``steps=1200 lr=5e-5`` into typed API parameters and checks
what it can on its own; ``resolve`` checks them against the model (training mode, version
defaults) and returns the body to send; ``effective`` shows what will apply.

Facts (Bria's start-training docs, summarised in the team's reference notes §3): defaults
differ per training version; ranges come from the published (FIBO-only) spec; advanced
parameters are accepted only for models in ``expert`` training mode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from bot.errors import InputError
from bot.providers.bria.models import TailoredModel

__all__ = [
    "API_PARAMETERS",
    "FIBO_DEFAULTS",
    "LEGACY_DEFAULTS",
    "LEGACY_VERSIONS",
    "LR_SCHEDULERS",
    "RANGES",
    "SLACK_OPTION_NAMES",
    "WARMUP_DEFAULT",
    "WARMUP_SCHEDULER",
    "defaults_for",
    "effective",
    "parse_options",
    "resolve",
]

SLACK_OPTION_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "steps": "total_training_steps",
        "lr": "learning_rate",
        "rank": "rank",
        "scheduler": "lr_scheduler",
        "warmup": "lr_warmup_steps",
        "checkpoint": "checkpoint_interval",
    }
)
_SLACK_NAME: Final = {api: slack for slack, api in SLACK_OPTION_NAMES.items()}
# The order parameters are sent and shown in.
API_PARAMETERS: Final = (
    "total_training_steps",
    "learning_rate",
    "rank",
    "lr_scheduler",
    "lr_warmup_steps",
    "checkpoint_interval",
)
_INTEGERS: Final = frozenset(
    {"total_training_steps", "rank", "lr_warmup_steps", "checkpoint_interval"}
)

LR_SCHEDULERS: Final = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
)
WARMUP_SCHEDULER: Final = "constant_with_warmup"
# The spec's default for lr_warmup_steps; Bria reports null when the scheduler has no warmup.
WARMUP_DEFAULT: Final = 100

# Inclusive (minimum, maximum); None means unbounded. From the spec's start-training schema.
RANGES: Final[Mapping[str, tuple[float, float | None]]] = MappingProxyType(
    {
        "learning_rate": (1e-6, 1e-3),
        "total_training_steps": (1, 5000),
        "rank": (4, 256),
        "checkpoint_interval": (100, None),
        "lr_warmup_steps": (0, 1000),
    }
)

FIBO_DEFAULTS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "total_training_steps": 750,
        "learning_rate": 0.0001,
        "rank": 128,
        "lr_scheduler": "constant_with_warmup",
        "lr_warmup_steps": WARMUP_DEFAULT,
        "checkpoint_interval": 500,
    }
)
LEGACY_DEFAULTS: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "total_training_steps": 1500,
        "learning_rate": 0.0001,
        "rank": 128,
        "lr_scheduler": "constant",
        "lr_warmup_steps": None,  # no warmup with the "constant" scheduler
        "checkpoint_interval": 500,
    }
)
# The docs' prose says "3.2, 2.3" while create-model's enum says "bria-3.2", "bria-2.3".
LEGACY_VERSIONS: Final = frozenset({"max", "light", "3.2", "2.3", "bria-3.2", "bria-2.3"})


def defaults_for(training_version: str | None) -> dict[str, Any]:
    """The parameters Bria applies when none are sent, for a model's training version."""
    version = (training_version or "").strip().lower()
    if version in LEGACY_VERSIONS:
        return dict(LEGACY_DEFAULTS)
    # "fibo", no version, and versions we do not know all get the FIBO defaults: the current
    # docs and spec are FIBO-only (no training_version field at all, one set of defaults,
    # equal to FIBO's), so a model without a version is a FIBO model, and a version newer
    # than this code is more likely a FIBO successor than a revived legacy family.
    return dict(FIBO_DEFAULTS)


def parse_options(options: Mapping[str, str]) -> dict[str, Any]:
    """Slack ``key=value`` strings to typed API parameters, in API names.

    Checks names, numbers, ranges, the scheduler, and the rules between options given
    together. Rules that need the model's defaults are left to :func:`resolve`.
    """
    parsed: dict[str, Any] = {}
    for raw_name, raw_value in options.items():
        name = raw_name.strip().lower()
        api_name = SLACK_OPTION_NAMES.get(name)
        if api_name is None:
            raise InputError(_unknown_option(raw_name))
        parsed[api_name] = _parse_value(api_name, raw_value)
    _check_checkpoint(parsed, parsed.get("total_training_steps"))
    _check_warmup(parsed, parsed.get("lr_scheduler"), scheduler_given=True)
    return _ordered(parsed)


def resolve(model: TailoredModel, requested: Mapping[str, Any]) -> dict[str, Any]:
    """The start-training body for ``model``: only the parameters the user gave.

    Bria applies its own defaults to what is left out (the docs say to send ``{}`` for
    defaults), so sending our copy of them could only go stale. Raises ``InputError`` for
    anything Bria would refuse that we can tell from the model.
    """
    if not requested:
        return {}
    if model.training_mode != "expert":
        raise InputError(
            f"Model {model.id} is in {model.training_mode} mode, so Bria chooses the training "
            "parameters: start it without options, or create an expert-mode model to set them."
        )
    checked = {name: _check_value(name, value) for name, value in requested.items()}
    merged = {**defaults_for(model.training_version), **checked}
    _check_checkpoint(
        checked, merged["total_training_steps"], steps_given="total_training_steps" in checked
    )
    _check_warmup(checked, merged["lr_scheduler"], scheduler_given="lr_scheduler" in checked)
    return _ordered(checked)


def effective(model: TailoredModel, requested: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter that will apply: the version's defaults merged with the request.

    For showing the plan before Bria answers; Bria's answer (``training_parameters``) is the
    authority. For a fully_automated model Bria may tune the recipe to the dataset, so these
    are the documented defaults rather than a promise. ``lr_warmup_steps`` is ``None`` when
    the scheduler has no warmup, as Bria reports it.
    """
    merged = {**defaults_for(model.training_version), **requested}
    if merged.get("lr_scheduler") != WARMUP_SCHEDULER:
        merged["lr_warmup_steps"] = None
    elif merged.get("lr_warmup_steps") is None:
        merged["lr_warmup_steps"] = WARMUP_DEFAULT
    return _ordered(merged)


# --- checks ---------------------------------------------------------------------------------------


def _parse_value(api_name: str, raw: str) -> Any:
    text = raw.strip()
    option = _SLACK_NAME[api_name]
    if not text:
        raise InputError(f"`{option}` needs a value, like `{option}={_example(api_name)}`.")
    if api_name == "lr_scheduler":
        return _check_value(api_name, text.lower())
    try:
        number = float(text.replace("_", ""))
    except ValueError:
        raise InputError(_not_a_number(api_name, text)) from None
    if api_name in _INTEGERS:
        if not (math.isfinite(number) and number.is_integer()):
            raise InputError(_not_a_number(api_name, text))
        return _check_value(api_name, int(number))
    return _check_value(api_name, number)


def _check_value(api_name: str, value: Any) -> Any:
    """One API parameter's type and range; returns it (ints as int, rates as float)."""
    if api_name not in API_PARAMETERS:
        raise InputError(_unknown_option(api_name))
    option = _SLACK_NAME[api_name]
    if api_name == "lr_scheduler":
        if value not in LR_SCHEDULERS:
            raise InputError(
                f"`{option}` must be one of {', '.join(LR_SCHEDULERS)}; got `{value}`."
            )
        return value
    number = _as_number(api_name, value)
    low, high = RANGES[api_name]
    if number < low or (high is not None and number > high):
        raise InputError(_out_of_range(api_name, number, low, high))
    return number


def _as_number(api_name: str, value: Any) -> int | float:
    # bool is an int subclass: True must not become a rank of 1.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(_not_a_number(api_name, str(value)))
    if api_name in _INTEGERS:
        if not float(value).is_integer():
            raise InputError(_not_a_number(api_name, str(value)))
        return int(value)
    return float(value)


def _check_checkpoint(given: Mapping[str, Any], steps: Any, *, steps_given: bool = True) -> None:
    interval = given.get("checkpoint_interval")
    if interval is None or steps is None or interval <= steps:
        return
    origin = "the total training steps" if steps_given else "this model's default training steps"
    raise InputError(
        f"`checkpoint={interval}` is above {origin} ({steps}): a checkpoint is saved every "
        "`checkpoint` steps, so it cannot be larger than `steps`."
    )


def _check_warmup(given: Mapping[str, Any], scheduler: Any, *, scheduler_given: bool) -> None:
    if given.get("lr_warmup_steps") is None or scheduler is None or scheduler == WARMUP_SCHEDULER:
        return
    origin = "" if scheduler_given else " (this model's default)"
    raise InputError(
        f"`warmup` only applies with `scheduler={WARMUP_SCHEDULER}`, and the scheduler would be "
        f"`{scheduler}`{origin}: add `scheduler={WARMUP_SCHEDULER}` or drop `warmup`."
    )


# --- wording --------------------------------------------------------------------------------------


def _unknown_option(name: str) -> str:
    valid = ", ".join(SLACK_OPTION_NAMES)
    hint = _SLACK_NAME.get(name.strip().lower())
    suggestion = f" (that is Bria's name for it: write `{hint}=`)" if hint else ""
    return f"Unknown option `{name}`{suggestion}. Valid options: {valid}."


def _not_a_number(api_name: str, text: str) -> str:
    option = _SLACK_NAME[api_name]
    kind = "a whole number" if api_name in _INTEGERS else "a number"
    return f"`{option}` must be {kind}, like `{option}={_example(api_name)}`; got `{text}`."


def _out_of_range(api_name: str, number: float, low: float, high: float | None) -> str:
    option = _SLACK_NAME[api_name]
    if high is None:
        return f"`{option}` must be at least {low:g}; got {number:g}."
    return f"`{option}` must be between {low:g} and {high:g}; got {number:g}."


def _example(api_name: str) -> str:
    return str(FIBO_DEFAULTS[api_name] if api_name != "learning_rate" else "1e-4")


def _ordered(parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {name: parameters[name] for name in API_PARAMETERS if name in parameters}
