"""Options listeners (``block_suggestion``): the start form's configuration picker."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from handlers.options import targets


def register(app: AsyncApp, deps: Deps) -> None:
    targets.register(app, deps)
