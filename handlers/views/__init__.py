"""Modal listeners. The Logs modal has no inputs, so nothing is registered yet."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps


def register(app: AsyncApp, deps: Deps) -> None:
    """Kept so that every listener kind registers the same way."""
