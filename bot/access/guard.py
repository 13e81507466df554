"""The one check every command, click and modal submission passes: may this user do this here?

:class:`Guard` answers for both providers on every process; a refusal names the action and the
resource group and is decided before any call to AI Core or Bria. The policy file is re-read
when it changes (a bad change keeps the policy in force and logs why); without a file everyone
may do everything.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from bot.access.policy import AllowRule, Policy, PolicyError, load_policy
from bot.access.usergroups import GroupsUnavailable, UserGroups

log = logging.getLogger(__name__)

OPEN_WARNING = (
    "ACCESS_POLICY is not set: everyone in the workspace may start, stop and delete runs in "
    "every resource group. Set it to a policy file (see the README) to say who may do what."
)


class PolicySource:
    """The policy file, re-read when its size, time or inode change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loaded = load_policy(path)  # a malformed file stops start-up (PolicyError)
        self._stamp = self._stat()
        self._rejected: bytes | None = None

    def current(self) -> Policy:
        stamp = self._stat()
        if stamp != self._stamp:
            self._stamp = stamp
            self._reload()
        return self._loaded.policy

    def _reload(self) -> None:
        try:
            loaded = load_policy(self.path)
        except PolicyError as exc:
            log.error("%s; keeping the policy in force until the file is fixed", exc)
            return
        if loaded.fingerprint != self._loaded.fingerprint:
            log.info(
                "ACCESS_POLICY %s changed: %d allow rules now", self.path, len(loaded.policy.allow)
            )
        self._loaded = loaded

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None  # gone for a moment (an editor's rename): keep what we have
        return (st.st_mtime_ns, st.st_size, st.st_ino)


@dataclass(frozen=True)
class Asking:
    """Who asks to do what, where."""

    user: str
    action: str  # one of bot.access.policy.ACTIONS
    resource_group: str  # Bria's models: "bria"
    channel: str | None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    refusal: str | None = None
    protected: bool = False  # stop and delete ask for the run's ID first


ALLOWED = Decision(allowed=True)


class Guard:
    def __init__(self, source: PolicySource | None, groups: UserGroups) -> None:
        self.source = source
        self.groups = groups

    async def warm(self) -> None:
        """Read the user groups the policy names (at start-up, so that the first commands
        find them; one that Slack does not give now is read when it is first needed)."""
        policy = self.policy()
        if policy is not None:
            await self.groups.warm(policy.usergroups())

    def policy(self) -> Policy | None:
        return self.source.current() if self.source is not None else None

    def is_protected(self, resource_group: str) -> bool:
        policy = self.policy()
        return policy is not None and policy.is_protected(resource_group)

    async def check(self, asking: Asking) -> Decision:
        policy = self.policy()
        if policy is None:
            return ALLOWED
        protected = asking.action in ("stop", "delete") and policy.is_protected(
            asking.resource_group
        )
        covering = [
            rule
            for rule in policy.allow
            if rule.covers(asking.action, asking.resource_group, asking.channel)
        ]
        named, unknown = await self._first_naming(covering, asking.user)
        if named:
            return Decision(allowed=True, protected=protected)
        if unknown is not None:
            return Decision(
                allowed=False,
                refusal=f":warning: {unknown.user_text()}, so I cannot tell whether you may "
                f"*{asking.action}* in {_group_words(asking.resource_group)}. Nothing was done; "
                "try again in a minute.",
            )
        return Decision(allowed=False, refusal=await self._refusal(policy, asking))

    async def _first_naming(
        self, rules: list[AllowRule], user: str
    ) -> tuple[bool, GroupsUnavailable | None]:
        """Does one of ``rules`` name ``user``? A group Slack cannot tell about now does not
        stop the others from answering; it is reported only when none of them names the user.
        The groups are read together, so a check costs one call's time at most."""
        if any(not rule.names_people or user in (rule.users or ()) for rule in rules):
            return True, None
        groups = {group for rule in rules for group in rule.usergroups or ()}
        found = await asyncio.gather(
            *(self.groups.members(group) for group in groups), return_exceptions=True
        )
        unknown: GroupsUnavailable | None = None
        for members in found:
            if isinstance(members, GroupsUnavailable):
                unknown = unknown or members
            elif isinstance(members, BaseException):
                raise members
            elif user in members:
                return True, None
        return False, unknown

    async def _refusal(self, policy: Policy, asking: Asking) -> str:
        """Allowed elsewhere? Then it is this channel that is not allowed, and the refusal says
        so (from what is cached: a refusal waits for Slack no longer than the check did)."""
        where = ""
        if asking.channel is not None:
            elsewhere = [
                rule
                for rule in policy.allow
                if rule.channels is not None
                and asking.channel not in rule.channels
                and rule.covers(asking.action, asking.resource_group, rule.channels[0])
            ]
            named, _unknown = await self._first_naming(elsewhere, asking.user)
            where = " in this channel" if named else ""
        return refusal_text(asking.action, asking.resource_group, where)


def _group_words(resource_group: str) -> str:
    if resource_group == "bria":
        return "Bria's models (resource group `bria`)"
    return f"resource group `{resource_group}`"


def refusal_text(action: str, resource_group: str, where: str = "") -> str:
    return (
        f":no_entry: The access policy does not let you *{action}* in "
        f"{_group_words(resource_group)}{where}, so "
        "nothing was done. The team that keeps the policy can change it."
    )


def open_guard(path: str | None, groups: UserGroups) -> Guard:
    """The guard for ``ACCESS_POLICY``; raises :class:`PolicyError` for a malformed file."""
    if not path:
        return Guard(None, groups)
    return Guard(PolicySource(Path(path)), groups)
