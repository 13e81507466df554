"""The ``/aicore`` slash command: parse, refuse bad input in the ack, record the work, ack."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import blocks
from bot.commands import parse_aicore
from bot.deps import Deps
from bot.errors import InputError
from handlers.commands.accept import accept
from handlers.common import error_text


def register(app: AsyncApp, deps: Deps) -> None:
    async def aicore_command(ack: AsyncAck, command: dict[str, Any], body: dict[str, Any]) -> None:
        default_group = deps.settings.aicore_resource_group
        try:
            parsed = parse_aicore(command.get("text") or "", default_resource_group=default_group)
            if parsed.name != "help":
                deps.service.provider(parsed.provider)  # refuses an unconfigured provider
        except InputError as exc:
            await ack(response_type="ephemeral", text=error_text(exc))
            return
        if parsed.name == "help":
            await ack(response_type="ephemeral", text=blocks.help_text("/aicore", default_group))
            return
        await accept(deps, ack, parsed, command, body)

    app.command("/aicore")(aicore_command)
