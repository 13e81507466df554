"""The ``/bria`` slash command: the same flow as ``/aicore`` with Bria's parser and words."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import blocks
from bot.commands import parse_bria
from bot.deps import Deps
from bot.errors import InputError
from handlers.commands.accept import accept
from handlers.common import error_text


def register(app: AsyncApp, deps: Deps) -> None:
    async def bria_command(ack: AsyncAck, command: dict[str, Any], body: dict[str, Any]) -> None:
        try:
            parsed = parse_bria(command.get("text") or "")
            if parsed.name != "help":
                deps.service.provider(parsed.provider)  # refuses an unconfigured provider
        except InputError as exc:
            await ack(response_type="ephemeral", text=error_text(exc))
            return
        if parsed.name == "help":
            await ack(response_type="ephemeral", text=blocks.help_text("/bria", "bria"))
            return
        await accept(deps, ack, parsed, command, body)

    app.command("/bria")(bria_command)
