"""Views in the local Slack (:mod:`bot.sandbox.slack`): modals and App Home.

``views.open``, ``views.push``, ``views.update`` (with Slack's hash check) and
``views.publish``, and what the sandbox page and tests do to views as Slack's client would:
register the trigger_id a user's interaction carried, type into a view, close it, or apply a
``response_action`` (update, push).
"""

from __future__ import annotations

import copy
from typing import Any

from bot.sandbox.slack_records import SlackError
from bot.sandbox.slack_state import SlackState

# Block Kit hard limit Slack enforces on the server side (reference §7).
MAX_VIEW_BLOCKS = 100


class ViewMethods(SlackState):
    """views.* and the test-facing view API (for :class:`~bot.sandbox.slack.FakeSlack`)."""

    _views: dict[str, dict[str, Any]]  # view_id -> latest version of that view
    _home_views: dict[str, str]  # user_id -> App Home view_id
    _trigger_users: dict[str, str]  # trigger_id -> the user whose interaction carried it
    _view_counter: int
    _hash_counter: int

    # ------------------------------------------------------------------ test-facing API

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """view_id -> latest version of that view (views.open/update/push/publish)."""
        with self._lock:
            return copy.deepcopy(self._views)

    def register_trigger(self, trigger_id: str, user: str) -> None:
        """A trigger_id handed to the app with an interaction of ``user``: views it opens
        belong to that user."""
        with self._lock:
            self._trigger_users[trigger_id] = user

    def open_views(self, user: str) -> list[dict[str, Any]]:
        """The modals open for ``user``, oldest first (the last one is on top)."""
        with self._lock:
            return [
                copy.deepcopy(v)
                for v in self._views.values()
                if v.get("user") == user and v["type"] == "modal" and not v.get("closed")
            ]

    def home_view(self, user: str) -> dict[str, Any] | None:
        with self._lock:
            view_id = self._home_views.get(user)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def close_view(self, view_id: str, *, all_of_stack: bool = False) -> None:
        """The user closed a modal (or the app answered ``response_action: clear``)."""
        with self._lock:
            view = self._views.get(view_id)
            if view is None:
                return
            closing = [view]
            if all_of_stack:
                root = view.get("root_view_id")
                closing = [v for v in self._views.values() if v.get("root_view_id") == root]
            for each in closing:
                each["closed"] = True
        self._changed()

    def set_view_state(self, view_id: str, values: dict[str, Any]) -> None:
        """What the user typed and picked in a view (``state.values``), as Slack keeps it."""
        with self._lock:
            view = self._views.get(view_id)
            if view is not None:
                view["state"] = {"values": copy.deepcopy(values)}

    def replace_view(self, view_id: str, view: dict[str, Any]) -> None:
        """``response_action: update``: the view is replaced in place."""
        with self._lock:
            current = self._views.get(view_id)
            if current is None:
                return
            stored = self._store_view(view, view_id=view_id, previous=current)
            self._owned(stored, current.get("user"))
        self._changed()

    def push_view(self, view: dict[str, Any], *, user: str, over: str) -> None:
        """``response_action: push``: a new view on top of ``over``."""
        with self._lock:
            below = self._views.get(over)
            stored = self._store_view(view, view_id=None, previous=None)
            if below is not None:
                self._views[stored["id"]]["root_view_id"] = below.get("root_view_id", over)
                self._views[stored["id"]]["previous_view_id"] = over
            self._owned(stored, user)
        self._changed()

    # ------------------------------------------------------------------ state helpers
    # All helpers below run with self._lock held.

    def _next_hash(self) -> str:
        self._hash_counter += 1
        return f"{1_700_000_000 + self._hash_counter}.fakehash{self._hash_counter:04d}"

    def _store_view(
        self, view: Any, *, view_id: str | None, previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        if not isinstance(view, dict) or "type" not in view:
            raise SlackError("invalid_arguments")
        blocks = view.get("blocks", [])
        if not isinstance(blocks, list) or len(blocks) > MAX_VIEW_BLOCKS:
            raise SlackError("invalid_arguments")
        if view_id is None:
            self._view_counter += 1
            view_id = f"V{self._view_counter:010d}"
        stored: dict[str, Any] = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": blocks,
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": self._next_hash(),
            "title": view.get("title"),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "external_id": view.get("external_id", ""),
            "root_view_id": (previous or {}).get("root_view_id", view_id),
            "previous_view_id": (previous or {}).get("previous_view_id"),
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }
        self._views[view_id] = stored
        return copy.deepcopy(stored)

    def _owned(self, view: dict[str, Any], user: str | None) -> dict[str, Any]:
        if user is not None:
            self._views[view["id"]]["user"] = user
            view["user"] = user
        return view

    # ------------------------------------------------------------------ Web API methods

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger_id = self._require(args, "trigger_id")
        view = self._store_view(args.get("view"), view_id=None, previous=None)
        return {"view": self._owned(view, self._trigger_users.get(trigger_id))}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger_id = self._require(args, "trigger_id")
        view = self._store_view(args.get("view"), view_id=None, previous=None)
        return {"view": self._owned(view, self._trigger_users.get(trigger_id))}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = self._require(args, "user_id", "user_not_found")
        # App Home: one view per user, republished in place.
        view = self._store_view(
            args.get("view"), view_id=self._home_views.get(user_id), previous=None
        )
        self._home_views[user_id] = view["id"]
        return {"view": self._owned(view, user_id)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id") or None
        external_id = args.get("external_id") or None
        if view_id is None and external_id is not None:
            view_id = next(
                (vid for vid, v in self._views.items() if v.get("external_id") == external_id),
                None,
            )
            if view_id is None:
                raise SlackError("not_found")
        if view_id is None:
            raise SlackError("invalid_arguments")
        current = self._views.get(str(view_id))
        if current is None:
            raise SlackError("not_found")
        # Slack's optimistic locking: a stale hash means someone else updated the view.
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = self._store_view(args.get("view"), view_id=str(view_id), previous=current)
        return {"view": self._owned(view, current.get("user"))}
