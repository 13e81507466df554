"""Slash-command listeners."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from handlers.commands import aicore, bria


def register(app: AsyncApp, deps: Deps) -> None:
    aicore.register(app, deps)
    bria.register(app, deps)
