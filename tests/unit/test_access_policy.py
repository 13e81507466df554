"""The access policy: parsing (every problem named with its line), decisions, user groups."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.access.guard import Asking, Guard, PolicySource, open_guard
from bot.access.policy import PolicyError, load_policy
from bot.access.usergroups import UserGroups

POLICY = """\
# who may do what
[[allow]]
actions = ["status", "list", "logs"]

[[allow]]
actions = ["start", "stop"]
resource_groups = ["dev-*", "default"]
usergroups = ["data-science"]

[[allow]]
actions = ["*"]
users = ["U0ADMIN"]
usergroups = ["S0PLATFORM"]

[[allow]]
actions = ["delete"]
resource_groups = ["default"]
users = ["U0ALICE"]
channels = ["C0OPS"]

[[protect]]
resource_groups = ["prod-*"]
"""


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (
            '[[allow]]\nactions = ["start"]\n\n[[allow]]\nuserz = ["U1"]\n',
            5,
            "`userz`: is not a key",
        ),
        ('[[allow]]\nresource_groups = ["dev/[x"]\n', 2, "is not a resource-group glob"),
        ('[[allow]]\nresource_groups = [""]\n', 2, "is not a resource-group glob"),
        ('[[allow]]\nactions = ["nuke"]\n', 2, "`nuke` is not an action"),
        ('[[allow]]\nusers = ["alice"]\n', 2, "not a Slack user ID"),
        ('[[allow]]\nchannels = ["#ml-training"]\n', 2, "not a Slack channel ID"),
        ('[[allow]]\nusergroups = ["ML Admins"]\n', 2, "neither a user group ID"),
        ("[[allow]]\nusers = []\n", 2, "is empty"),
        ('[[allow]]\nactions = "start"\n', 2, "valid list"),
        ('allowed = 1\n[[allow]]\nactions = ["list"]\n', 1, "is not a table the policy knows"),
        (
            '[[allow]]\nactions = ["list"]\n[[protect]]\nresource_groups = ["prod-*"]\n'
            'actions = ["stop"]\n',
            5,
            "`actions`",
        ),
        ("", 1, "there is no [[allow]] rule"),
        ('[[protect]]\nresource_groups = ["prod-*"]\n', 1, "there is no [[allow]] rule"),
        ('[[allow]]\nactions = ["start"\nusers = ["U1"]\n', 3, "Unclosed array"),
        ('[[allow]]\nactions = ["start"]\n[[allow\n', 3, "Expected ']]'"),
    ],
)
def test_a_malformed_policy_is_one_line_naming_the_file_the_line_and_the_problem(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"ACCESS_POLICY {path}, line {line}: ")
    assert problem in message


def test_a_missing_or_binary_file_is_named_too(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read it"):
        load_policy(tmp_path / "absent.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'[[allow]]\nactions = ["\xff"]\n')
    with pytest.raises(PolicyError, match="line 2: not UTF-8"):
        load_policy(binary)


class FakeGroups:
    """Stands in for Slack's usergroups.* (the guard's only outside call)."""

    def __init__(self, groups: dict[str, dict[str, Any]]) -> None:
        self.groups = groups  # id -> {"handle": ..., "users": [...]}
        self.calls: list[str] = []
        self.failing = False

    async def usergroups_list(self, **_kwargs: Any) -> dict[str, Any]:
        self.calls.append("usergroups.list")
        self._maybe_fail()
        return {
            "usergroups": [{"id": gid, "handle": g["handle"]} for gid, g in self.groups.items()]
        }

    async def usergroups_users_list(self, *, usergroup: str) -> dict[str, Any]:
        self.calls.append(f"usergroups.users.list {usergroup}")
        self._maybe_fail()
        if usergroup not in self.groups:
            raise SlackApiError("no", _response({"ok": False, "error": "no_such_subteam"}))
        return {"users": list(self.groups[usergroup]["users"])}

    def _maybe_fail(self) -> None:
        if self.failing:
            raise SlackApiError("down", _response({"ok": False, "error": "fatal_error"}))


def _response(data: dict[str, Any]) -> AsyncSlackResponse:
    return AsyncSlackResponse(
        client=None,  # type: ignore[arg-type]
        http_verb="POST",
        api_url="https://slack.com/api/x",
        req_args={},
        data=data,
        headers={},
        status_code=200,
    )


GROUPS = {
    "S0DATA": {"handle": "data-science", "users": ["U0ALICE", "U0BOB"]},
    "S0PLATFORM": {"handle": "ml-platform", "users": ["U0BOB"]},
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def guard_for(tmp_path: Path, text: str = POLICY) -> tuple[Guard, FakeGroups, Clock]:
    slack = FakeGroups(GROUPS)
    clock = Clock()
    groups = UserGroups(slack, clock=clock)  # type: ignore[arg-type]
    return open_guard(str(write(tmp_path, text)), groups), slack, clock


async def decide(guard: Guard, user: str, action: str, group: str, channel: str = "C0ML") -> Any:
    return await guard.check(
        Asking(user=user, action=action, resource_group=group, channel=channel)
    )


@pytest.mark.parametrize(
    ("user", "action", "group", "channel", "allowed"),
    [
        ("U0CAROL", "status", "prod-eu", "C0ML", True),  # a rule without people: anyone
        ("U0CAROL", "start", "default", "C0ML", False),
        ("U0ALICE", "start", "dev-42", "C0ML", True),  # data-science, by handle
        ("U0ALICE", "start", "prod-eu", "C0ML", False),
        ("U0ALICE", "delete", "default", "C0ML", False),  # only in C0OPS
        ("U0ALICE", "delete", "default", "C0OPS", True),
        ("U0BOB", "delete", "prod-eu", "C0ML", True),  # ml-platform, by ID: "*"
        ("U0ADMIN", "audit", "anything", "C0ML", True),  # by user ID
        ("U0ALICE", "audit", "default", "C0ML", False),
        ("W0ENTERPRISE", "start", "default", "C0ML", False),
    ],
)
async def test_a_rule_matches_in_every_key_it_has(
    tmp_path: Path, user: str, action: str, group: str, channel: str, allowed: bool
) -> None:
    guard, _slack, _clock = guard_for(tmp_path)
    decision = await decide(guard, user, action, group, channel)
    assert decision.allowed is allowed
    if not allowed:
        assert f"*{action}*" in decision.refusal and f"`{group}`" in decision.refusal


async def test_the_refusal_says_when_it_is_the_channel_that_is_not_allowed(
    tmp_path: Path,
) -> None:
    guard, _slack, _clock = guard_for(tmp_path)
    here = await decide(guard, "U0ALICE", "delete", "default", "C0ML")
    assert "in this channel" in here.refusal
    nowhere = await decide(guard, "U0CAROL", "delete", "default", "C0ML")
    assert "in this channel" not in nowhere.refusal


async def test_stop_and_delete_in_a_protected_group_are_marked_for_the_typed_id(
    tmp_path: Path,
) -> None:
    guard, _slack, _clock = guard_for(tmp_path)
    assert (await decide(guard, "U0BOB", "stop", "prod-eu")).protected
    assert (await decide(guard, "U0BOB", "delete", "prod-eu")).protected
    assert not (await decide(guard, "U0BOB", "logs", "prod-eu")).protected
    assert not (await decide(guard, "U0BOB", "stop", "default")).protected


async def test_without_a_policy_everyone_may_do_everything(tmp_path: Path) -> None:
    guard = open_guard(None, UserGroups(FakeGroups({})))  # type: ignore[arg-type]
    assert guard.policy() is None
    assert (await decide(guard, "U0ANYONE", "delete", "prod-eu")).allowed


async def test_user_groups_are_cached_for_minutes_and_the_last_good_answer_outlives_slack(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    guard, slack, clock = guard_for(tmp_path)
    assert (await decide(guard, "U0ALICE", "start", "default")).allowed
    calls = len(slack.calls)
    for _ in range(5):
        assert (await decide(guard, "U0ALICE", "start", "default")).allowed
    assert len(slack.calls) == calls  # answered from the cache

    slack.groups["S0DATA"]["users"].remove("U0ALICE")
    clock.now += 301  # stale: still answered at once, and read again in the background
    assert (await decide(guard, "U0ALICE", "start", "default")).allowed
    await guard.groups.refreshed()
    assert not (await decide(guard, "U0ALICE", "start", "default")).allowed

    slack.groups["S0DATA"]["users"].append("U0ALICE")
    clock.now += 301
    slack.failing = True  # Slack fails: the last good answer (without alice) stands
    with caplog.at_level(logging.WARNING):
        assert not (await decide(guard, "U0ALICE", "start", "default")).allowed
        await guard.groups.refreshed()
    assert "using its members as of" in caplog.text
    failed_calls = len(slack.calls)
    assert not (await decide(guard, "U0ALICE", "start", "default")).allowed
    await guard.groups.refreshed()
    assert len(slack.calls) == failed_calls  # after a failure Slack is left alone 30 s

    slack.failing = False
    clock.now += 31
    await decide(guard, "U0ALICE", "start", "default")
    await guard.groups.refreshed()
    assert (await decide(guard, "U0ALICE", "start", "default")).allowed


async def test_one_unreadable_group_does_not_refuse_a_member_of_another(tmp_path: Path) -> None:
    text = '[[allow]]\nusergroups = ["S0DATA"]\n\n[[allow]]\nusergroups = ["S0PLATFORM"]\n'
    guard, slack, clock = guard_for(tmp_path, text)
    await guard.groups.members("S0PLATFORM")  # read once; S0DATA never
    slack.failing = True
    assert (await decide(guard, "U0BOB", "delete", "default")).allowed
    refused = await decide(guard, "U0CAROL", "delete", "prod-eu")
    assert "cannot check the members of user group S0DATA" in refused.refusal
    assert "*delete* in resource group `prod-eu`" in refused.refusal
    calls = len(slack.calls)
    await decide(guard, "U0CAROL", "delete", "prod-eu")
    assert len(slack.calls) == calls  # a group that just failed is not asked for again at once
    clock.now += 31
    slack.failing = False
    assert not (await decide(guard, "U0CAROL", "delete", "prod-eu")).allowed
    assert "not let you" in (await decide(guard, "U0CAROL", "delete", "prod-eu")).refusal


async def test_warming_reads_every_group_the_policy_names(tmp_path: Path) -> None:
    guard, slack, _clock = guard_for(tmp_path)
    await guard.warm()
    assert sorted(slack.calls) == [
        "usergroups.list",
        "usergroups.users.list S0DATA",
        "usergroups.users.list S0PLATFORM",
    ]
    calls = len(slack.calls)
    assert (await decide(guard, "U0BOB", "delete", "prod-eu")).allowed
    assert len(slack.calls) == calls


async def test_a_group_never_read_while_slack_fails_refuses_and_says_why(tmp_path: Path) -> None:
    guard, slack, _clock = guard_for(tmp_path)
    slack.failing = True
    decision = await decide(guard, "U0ALICE", "start", "default")
    assert not decision.allowed
    assert "cannot check the members of user group" in decision.refusal


async def test_a_deleted_group_has_no_members(tmp_path: Path) -> None:
    text = '[[allow]]\nactions = ["start"]\nusergroups = ["S0GONE"]\n'
    guard, _slack, _clock = guard_for(tmp_path, text)
    assert not (await decide(guard, "U0ALICE", "start", "default")).allowed


def test_a_changed_file_is_picked_up_and_a_bad_change_keeps_the_policy_in_force(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, '[[allow]]\nactions = ["list"]\n')
    source = PolicySource(path)
    assert [rule.actions for rule in source.current().allow] == [["list"]]

    path.write_text('[[allow]]\nactions = ["list", "start"]\n')
    _touch(path, 1)
    assert [rule.actions for rule in source.current().allow] == [["list", "start"]]

    path.write_text('[[allow]]\nactions = ["lsit"]\n')
    _touch(path, 2)
    with caplog.at_level(logging.ERROR):
        assert [rule.actions for rule in source.current().allow] == [["list", "start"]]
    assert "line 2: [[allow]] number 1, `actions`: `lsit` is not an action" in caplog.text
    assert "keeping the policy in force" in caplog.text


def _touch(path: Path, step: int) -> None:
    """A distinct modification time, whatever the file system's resolution."""
    stamp = path.stat().st_mtime_ns + step * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))
