"""Slack listeners, one package per listener kind, each with ``register(app, deps)``."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from handlers import actions, commands, views


def register_all(app: AsyncApp, deps: Deps) -> None:
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
