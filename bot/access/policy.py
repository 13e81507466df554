"""The access policy: who may do what, where. Parsed from TOML into typed, validated rules.

```toml
[[allow]]
actions = ["start", "stop"]          # or ["*"]; a rule without it covers every action
resource_groups = ["dev-*"]          # globs; Bria's models are resource group "bria"
users = ["U0123ABCD"]                # Slack user IDs (U… or W…)
usergroups = ["S0456EFGH", "ml-admins"]   # user group IDs or handles
channels = ["C0789IJKL"]             # only in these channels

[[protect]]
resource_groups = ["prod-*"]         # stop and delete here ask for the run's ID first
```

An action is allowed when one ``[[allow]]`` rule matches it in every key the rule has. A rule
names people with ``users`` and/or ``usergroups`` (matching either is enough). Names of users
and channels are refused: they change and are not unique; IDs are not.

A malformed file raises :class:`PolicyError`, whose message names the file, the line and the
problem in one line.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from bot.errors import ConfigError

#: Every action the policy speaks of; ``help`` is always allowed and never named.
ACTIONS = (
    "start",
    "stop",
    "delete",
    "status",
    "list",
    "logs",
    "watch",
    "subscribe",
    "audit",
)

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
GROUP_HANDLE = re.compile(r"^@?[a-z0-9][a-z0-9._-]{0,79}$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
GLOB = re.compile(r"^[A-Za-z0-9_.*?-]{1,64}$")


class PolicyError(ConfigError):
    """The policy file cannot be used; the message names the file, the line and the problem."""


def _action(value: str) -> str:
    if value != "*" and value not in ACTIONS:
        raise ValueError(f"`{value}` is not an action; use one of {', '.join(ACTIONS)} or `*`")
    return value


def _glob(value: str) -> str:
    if not GLOB.match(value):
        raise ValueError(
            f"`{value}` is not a resource-group glob: use letters, digits, `_`, `.`, `-` "
            "and the wildcards `*` and `?`"
        )
    return value


def _user(value: str) -> str:
    if not USER_ID.match(value):
        raise ValueError(
            f"`{value}` is not a Slack user ID (U… or W…); names are not unique on Slack, "
            "so the policy takes IDs (a profile's menu: Copy member ID)"
        )
    return value


def _group(value: str) -> str:
    if not (GROUP_ID.match(value) or GROUP_HANDLE.match(value)):
        raise ValueError(f"`{value}` is neither a user group ID (S…) nor a user group handle")
    return value.removeprefix("@")


def _channel(value: str) -> str:
    if not CHANNEL_ID.match(value):
        raise ValueError(
            f"`{value}` is not a Slack channel ID (C…); channel names change, so the policy "
            "takes IDs (a channel's details: Channel ID)"
        )
    return value


Actions = Annotated[list[Annotated[str, AfterValidator(_action)]], Field(min_length=1)]
Globs = Annotated[list[Annotated[str, AfterValidator(_glob)]], Field(min_length=1)]
Users = Annotated[list[Annotated[str, AfterValidator(_user)]], Field(min_length=1)]
Groups = Annotated[list[Annotated[str, AfterValidator(_group)]], Field(min_length=1)]
Channels = Annotated[list[Annotated[str, AfterValidator(_channel)]], Field(min_length=1)]


class AllowRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    actions: Actions | None = None
    resource_groups: Globs | None = None
    users: Users | None = None
    usergroups: Groups | None = None
    channels: Channels | None = None

    def covers(self, action: str, resource_group: str, channel: str | None) -> bool:
        """Everything but who: the action, the resource group and the channel."""
        return (
            (self.actions is None or "*" in self.actions or action in self.actions)
            and self.covers_group(resource_group)
            and (self.channels is None or channel in self.channels)
        )

    def covers_group(self, resource_group: str) -> bool:
        return self.resource_groups is None or _matches(resource_group, self.resource_groups)

    @property
    def names_people(self) -> bool:
        return self.users is not None or self.usergroups is not None


class ProtectRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    resource_groups: Globs


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[AllowRule] = Field(default_factory=list)
    protect: list[ProtectRule] = Field(default_factory=list)

    def is_protected(self, resource_group: str) -> bool:
        return any(_matches(resource_group, rule.resource_groups) for rule in self.protect)

    def usergroups(self) -> set[str]:
        """Every user group (ID or handle) the rules name."""
        return {group for rule in self.allow for group in rule.usergroups or ()}


def _matches(name: str, globs: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, glob) for glob in globs)


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    fingerprint: bytes  # the file's bytes: a rewrite with the same content is no change


def load_policy(path: Path) -> LoadedPolicy:
    """Read and validate the policy file; :class:`PolicyError` names the line of the problem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"ACCESS_POLICY {path}: cannot read it ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError(f"ACCESS_POLICY {path}, line {line}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "<problem> (at line L, column C)"
        problem = str(exc)
        found = re.search(r"\(at (?:line (\d+), column \d+|end of document)\)$", problem)
        at_line = (found.group(1) or str(len(text.splitlines()) or 1)) if found else None
        line_text = f", line {at_line}" if at_line else ""
        problem = problem[: found.start()].strip() if found else problem
        raise PolicyError(f"ACCESS_POLICY {path}{line_text}: {problem}") from None
    if not data.get("allow"):
        # Also what a half-written file (an editor saving) looks like: refuse it rather than
        # refuse everyone.
        raise PolicyError(
            f"ACCESS_POLICY {path}, line 1: there is no [[allow]] rule, so it would refuse "
            "everything; without ACCESS_POLICY everyone may do everything"
        )
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = tuple(first["loc"])
        line = line_of(text, location)
        raise PolicyError(
            f"ACCESS_POLICY {path}, line {line}: {_where(location)}{_problem(first)}"
        ) from None
    return LoadedPolicy(policy=policy, fingerprint=raw)


def _problem(error: Any) -> str:
    if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
        return "is not a table the policy knows: use [[allow]] and [[protect]]"
    if error["type"] == "extra_forbidden":
        return (
            "is not a key the policy knows (allow: actions, resource_groups, users, "
            "usergroups, channels; protect: resource_groups)"
        )
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "too_short":
        return "is empty: an empty list matches nothing; leave the key out instead"
    return message


def _where(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location]
    if len(parts) >= 2 and parts[0] in ("allow", "protect") and parts[1].isdigit():
        table = f"[[{parts[0]}]] number {int(parts[1]) + 1}"
        rest = parts[2:]
        if rest:
            return f"{table}, `{rest[0]}`: "
        return f"{table}: "
    return f"`{'.'.join(parts)}`: " if parts else ""


def line_of(text: str, location: tuple[Any, ...]) -> int:
    """The line of ``text`` that ``location`` (pydantic's error location) points into.

    Good enough for the files people write: the N-th ``[[allow]]`` header, then the first line
    after it that sets the key.
    """
    lines = text.splitlines()
    if not location:
        return 1
    table = str(location[0])
    if len(location) >= 2 and isinstance(location[1], int):
        header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
        starts = [i for i, line in enumerate(lines) if header.match(line)]
        if location[1] < len(starts):
            start = starts[location[1]]
            if len(location) >= 3:
                key = re.compile(rf"^\s*{re.escape(str(location[2]))}\s*=")
                for i in range(start + 1, len(lines)):
                    if re.match(r"^\s*\[", lines[i]):
                        break
                    if key.match(lines[i]):
                        return i + 1
            return start + 1
    key = re.compile(rf"^\s*(\[\[?\s*)?{re.escape(table)}\b")
    for i, line in enumerate(lines):
        if key.match(line):
            return i + 1
    return 1
