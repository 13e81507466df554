"""Who is who in the local Slack (:mod:`bot.sandbox.slack`).

``auth.test`` (the app's own identity), ``conversations.open`` (the app's DM channel with a
user) and ``usergroups.list`` / ``usergroups.users.list`` (the workspace's user groups, as
given to :class:`~bot.sandbox.slack.FakeSlack`).
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.slack_records import SlackError, truthy
from bot.sandbox.slack_state import SlackState


class DirectoryMethods(SlackState):
    """auth.test, conversations.open and usergroups.* (for FakeSlack)."""

    _usergroups: list[dict[str, Any]]  # each with id, handle, name, users
    _direct: dict[str, str]  # user -> the app's DM channel with them

    def direct_channel(self, user: str) -> str | None:
        """The app's DM channel with ``user``, once ``conversations.open`` made it."""
        with self._lock:
            return self._direct.get(user)

    # ------------------------------------------------------------------ Web API methods

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "aicore-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "is_enterprise_install": False,
        }

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise SlackError("users_list_not_supplied" if not users else "not_supported")
        channel = self._direct.setdefault(users[0], f"D{len(self._direct) + 1:09d}")
        return {"channel": {"id": channel, "is_im": True, "user": users[0]}}

    def _usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        with_users = truthy(args.get("include_users"))
        groups = []
        for group in self._usergroups:
            shown = {
                "id": group["id"],
                "team_id": self.team_id,
                "handle": group["handle"],
                "name": group.get("name", group["handle"]),
                "user_count": len(group.get("users", [])),
            }
            if with_users:
                shown["users"] = list(group.get("users", []))
            groups.append(shown)
        return {"usergroups": groups}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        wanted = self._require(args, "usergroup", "no_such_subteam")
        group = next((g for g in self._usergroups if g["id"] == wanted), None)
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group.get("users", []))}
