"""Event listeners (Events API): the App Home tab."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from handlers.events import home


def register(app: AsyncApp, deps: Deps) -> None:
    home.register(app, deps)
