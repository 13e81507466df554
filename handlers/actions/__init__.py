"""Button listeners: the status card's buttons and the bulk confirmation."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from handlers.actions import bulk, card


def register(app: AsyncApp, deps: Deps) -> None:
    card.register(app, deps)
    bulk.register(app, deps)
