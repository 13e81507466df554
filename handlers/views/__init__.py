"""Modal listeners: the typed-ID confirmation of a protected resource group; the start form."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from handlers.views import protected, start


def register(app: AsyncApp, deps: Deps) -> None:
    protected.register(app, deps)
    start.register(app, deps)
