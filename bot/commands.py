"""Parsing of slash-command text: pure functions, no I/O.

Every refusal is an :class:`InputError` whose message is shown to the user as is, before any
call to a provider is made.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.errors import InputError
from bot.providers.aicore.models import EXECUTION_STATUSES

AI_CORE_ID = re.compile(r"^[\w.-]{4,64}$", re.ASCII)
MAX_IDS = 100
DEFAULT_LOG_LINES = 50
MAX_LOG_LINES = 1000
ALERT_FILTERS = ("DEAD", "PENDING")

AICORE_SUBCOMMANDS: dict[str, frozenset[str]] = {
    # subcommand -> the key=value options it takes besides rg=
    "help": frozenset(),
    "start": frozenset(),
    "stop": frozenset(),
    "delete": frozenset(),
    "status": frozenset(),
    "list": frozenset(),
    "logs": frozenset({"lines"}),
    "watch": frozenset(),
    "subscribe": frozenset({"scenario", "only"}),
    "unsubscribe": frozenset(),
    "subscriptions": frozenset(),
    "audit": frozenset(),
}


@dataclass(frozen=True)
class Command:
    name: str
    provider: str = "aicore"
    ids: tuple[str, ...] = ()
    resource_group: str = "default"
    status: str | None = None  # list <STATUS>
    lines: int = DEFAULT_LOG_LINES  # logs lines=N
    scenario: str | None = None  # subscribe scenario=<id>
    only: tuple[str, ...] = ()  # subscribe only=DEAD,PENDING
    duplicates_folded: int = 0
    # /bria train parameters; for an AI Core start from the modal, the parameter values to
    # run with (a copy of the configuration is made where they differ)
    params: dict[str, Any] = field(default_factory=dict)
    target_name: str | None = None  # start <name>: a configuration's or model's name

    def to_dict(self) -> dict[str, Any]:
        """As JSON (a job's payload)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Command:
        values = dict(data)
        values["ids"] = tuple(values.get("ids") or ())
        values["only"] = tuple(values.get("only") or ())
        return cls(**values)

    @property
    def target(self) -> str | None:
        """What a single-run command acts on, as ``action:provider:scope:id`` (double clicks
        and a repeated command find it already under way)."""
        if self.name not in ("stop", "delete") or len(self.ids) != 1:
            return None
        return f"{self.name}:{self.provider}:{self.resource_group}:{self.ids[0]}"


def tokenize(text: str) -> list[str]:
    """Split on white space, and ids also on commas; drop the backticks and quotes people paste.

    Option values keep their commas (``only=DEAD,PENDING``).
    """
    cleaned = text.replace("\u00a0", " ").replace("`", " ").replace('"', " ").replace("'", " ")
    tokens: list[str] = []
    for word in cleaned.split():
        tokens += [word] if "=" in word else [part for part in word.split(",") if part]
    return tokens


def split_options(tokens: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    options: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if sep:
            if not key or not value:
                raise InputError(f"`{token}` is not a valid option: write it as `name=value`.")
            options[key.lower()] = value
        else:
            positional.append(token)
    return positional, options


def check_id(value: str, *, what: str = "execution ID") -> str:
    if not AI_CORE_ID.match(value):
        raise InputError(
            f"`{_clip(value)}` is not a valid {what}: IDs are 4 to 64 letters, digits, "
            "`_`, `.` or `-`."
        )
    return value


def distinct_ids(
    values: Sequence[str],
    *,
    what: str = "execution ID",
    check: Callable[[str], str] | None = None,
) -> tuple[list[str], int]:
    """Validate ids, fold duplicates (keeping the first order), enforce 1..100."""
    if not values:
        raise InputError(f"Give at least one {what}.")
    valid = check or (lambda value: check_id(value, what=what))
    ids = list(dict.fromkeys(valid(v) for v in values))
    if len(ids) > MAX_IDS:
        raise InputError(
            f"That is {len(ids)} distinct {what}s; one command takes at most {MAX_IDS}. "
            "Split it into several commands."
        )
    return ids, len(values) - len(ids)


def parse_aicore(text: str, *, default_resource_group: str) -> Command:
    positional, options = split_options(tokenize(text))
    if not positional:
        if options:
            raise InputError("Say what to do first, for example `/aicore list rg=my-group`.")
        return Command("help", resource_group=default_resource_group)
    name, args = positional[0].lower(), positional[1:]
    if name not in AICORE_SUBCOMMANDS:
        raise InputError(_unknown(name, AICORE_SUBCOMMANDS, "/aicore"))
    resource_group = options.pop("rg", default_resource_group)
    check_id(resource_group, what="resource group")
    unexpected = set(options) - AICORE_SUBCOMMANDS[name]
    if unexpected:
        raise InputError(f"`{name}` does not take `{sorted(unexpected)[0]}=`. See `/aicore help`.")
    return _AICORE_PARSERS[name](name, args, options, resource_group)


def _no_args(name: str, args: list[str], _options: dict[str, str], rg: str) -> Command:
    if args:
        raise InputError(f"`{name}` takes no arguments; you gave `{_clip(' '.join(args))}`.")
    return Command(name, resource_group=rg)


def _one_id(name: str, args: list[str], _options: dict[str, str], rg: str) -> Command:
    what = "configuration ID" if name == "start" else "execution ID"
    if len(args) != 1:
        raise InputError(f"`/aicore {name}` takes exactly one {what}: `/aicore {name} <{what}>`.")
    return Command(name, ids=(check_id(args[0], what=what),), resource_group=rg)


MAX_NAME = 256  # AI Core's configuration names


def _start(name: str, args: list[str], _options: dict[str, str], rg: str) -> Command:
    """``start`` (the modal), ``start <configurationId>`` or ``start <name>``."""
    if not args:
        return Command(name, resource_group=rg)
    if len(args) == 1 and AI_CORE_ID.match(args[0]):
        return Command(name, ids=(args[0],), resource_group=rg)
    return Command(name, resource_group=rg, target_name=_target_name(args))


def _target_name(args: list[str]) -> str:
    text = " ".join(args)
    if len(text) > MAX_NAME:
        raise InputError(f"`{_clip(text)}` is too long for a name (at most {MAX_NAME} characters).")
    return text


def _many_ids(name: str, args: list[str], _options: dict[str, str], rg: str) -> Command:
    ids, folded = distinct_ids(args)
    return Command(name, ids=tuple(ids), resource_group=rg, duplicates_folded=folded)


def _list(name: str, args: list[str], _options: dict[str, str], rg: str) -> Command:
    if len(args) > 1:
        raise InputError(
            "`/aicore list` takes at most one status, for example `/aicore list DEAD`."
        )
    status = args[0].upper() if args else None
    if status is not None and status not in EXECUTION_STATUSES:
        raise InputError(
            f"`{_clip(args[0])}` is not an execution status; use one of "
            + ", ".join(f"`{s}`" for s in EXECUTION_STATUSES)
            + "."
        )
    return Command(name, resource_group=rg, status=status)


def _logs(name: str, args: list[str], options: dict[str, str], rg: str) -> Command:
    command = _one_id(name, args, options, rg)
    raw = options.get("lines", str(DEFAULT_LOG_LINES))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LOG_LINES:
        raise InputError(f"`lines={_clip(raw)}` must be a whole number from 1 to {MAX_LOG_LINES}.")
    return Command(name, ids=command.ids, resource_group=rg, lines=int(raw))


def _subscribe(name: str, args: list[str], options: dict[str, str], rg: str) -> Command:
    if args:
        raise InputError(
            "`subscribe` takes only options: "
            "`/aicore subscribe [scenario=<id>] [only=DEAD,PENDING]`."
        )
    scenario = options.get("scenario")
    if scenario is not None:
        check_id(scenario, what="scenario ID")
    only: tuple[str, ...] = ()
    if "only" in options:
        only = tuple(dict.fromkeys(s.upper() for s in options["only"].split(",") if s))
        wrong = [s for s in only if s not in ALERT_FILTERS]
        if wrong or not only:
            raise InputError(
                f"`only=` takes {' and '.join(f'`{s}`' for s in ALERT_FILTERS)} "
                f"(comma-separated), not `{_clip(','.join(wrong) or options['only'])}`."
            )
    return Command(name, resource_group=rg, scenario=scenario, only=only)


def _audit(name: str, args: list[str], _options: dict[str, str], rg: str) -> Command:
    if len(args) > 1:
        raise InputError("`/aicore audit` takes at most one execution ID: `/aicore audit [<id>]`.")
    ids = (check_id(args[0]),) if args else ()
    return Command(name, ids=ids, resource_group=rg)


_AICORE_PARSERS = {
    "help": _no_args,
    "start": _start,
    "stop": _many_ids,
    "delete": _many_ids,
    "status": _one_id,
    "list": _list,
    "logs": _logs,
    "watch": _one_id,
    "subscribe": _subscribe,
    "unsubscribe": _no_args,
    "subscriptions": _no_args,
    "audit": _audit,
}


def _unknown(name: str, known: Iterable[str], command: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" Did you mean `{command} {close[0]}`?" if close else ""
    return f"`{_clip(name)}` is not a {command} command.{hint} Try `{command} help`."


def _clip(value: str, limit: int = 80) -> str:
    """Echo user input back safely: short, and without characters that break a code span."""
    value = value.replace("`", "'")
    return value if len(value) <= limit else value[: limit - 1] + "…"


# -- /bria ----------------------------------------------------------------------------------------

BRIA_SCOPE = "bria"
BRIA_MODEL_ID = re.compile(r"^\d{1,18}$")
BRIA_SUBCOMMANDS = ("help", "train", "stop", "delete", "status", "list", "audit")


def parse_bria(text: str) -> Command:
    """``/bria``: train, stop, delete, status, list; parameters are checked before any call."""
    from bot.providers.bria import training  # the option rules live with the Bria provider

    positional, options = split_options(tokenize(text))
    if not positional:
        if options:
            raise InputError("Say what to do first, for example `/bria train 1234 steps=1000`.")
        return Command("help", provider="bria", resource_group=BRIA_SCOPE)
    name, args = positional[0].lower(), positional[1:]
    if name not in BRIA_SUBCOMMANDS:
        raise InputError(_unknown(name, BRIA_SUBCOMMANDS, "/bria"))
    if options and name != "train":
        raise InputError(f"`/bria {name}` takes no options; only `train` does.")
    if name == "help":
        _no_args(name, args, options, BRIA_SCOPE)  # refuses stray arguments
        return Command("help", provider="bria", resource_group=BRIA_SCOPE)
    if name == "audit":
        if len(args) > 1:
            raise InputError("`/bria audit` takes at most one model ID: `/bria audit [<modelId>]`.")
        model = (_bria_id(args[0]),) if args else ()
        return Command("audit", provider="bria", resource_group=BRIA_SCOPE, ids=model)
    if name == "list":
        status = _bria_status(args)
        return Command("list", provider="bria", resource_group=BRIA_SCOPE, status=status)
    if name in ("stop", "delete"):
        ids, folded = distinct_ids(args, what="model ID", check=_bria_id)
        return Command(
            name,
            provider="bria",
            resource_group=BRIA_SCOPE,
            ids=tuple(ids),
            duplicates_folded=folded,
        )
    if name == "train":
        if not args:
            raise InputError(
                "`/bria train` takes a model ID or name: `/bria train <modelId or name>`."
            )
        params = training.parse_options(options)
        if len(args) == 1 and BRIA_MODEL_ID.match(args[0]):
            return Command(
                "start", provider="bria", resource_group=BRIA_SCOPE, ids=(args[0],), params=params
            )
        return Command(
            "start",
            provider="bria",
            resource_group=BRIA_SCOPE,
            target_name=_target_name(args),
            params=params,
        )
    if len(args) != 1:
        raise InputError(f"`/bria {name}` takes exactly one model ID: `/bria {name} <modelId>`.")
    return Command(name, provider="bria", resource_group=BRIA_SCOPE, ids=(_bria_id(args[0]),))


def _bria_id(value: str) -> str:
    if not BRIA_MODEL_ID.match(value):
        raise InputError(f"`{_clip(value)}` is not a Bria model ID: model IDs are whole numbers.")
    return value


def _bria_status(args: list[str]) -> str | None:
    from bot.providers.bria.models import MODEL_STATUSES

    if len(args) > 1:
        raise InputError("`/bria list` takes at most one status, for example `/bria list Failed`.")
    if not args:
        return None
    by_lower = {s.lower(): s for s in MODEL_STATUSES}
    if args[0].lower() not in by_lower:
        raise InputError(
            f"`{_clip(args[0])}` is not a model status; use one of "
            + ", ".join(f"`{s}`" for s in MODEL_STATUSES)
            + "."
        )
    return by_lower[args[0].lower()]
