"""The ``/aicore`` slash command: parse, refuse bad input in the ack, then work after it."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot import blocks
from bot.commands import parse_aicore
from bot.deps import Deps
from bot.errors import InputError
from handlers.commands.runs import WORK, ack_message
from handlers.common import answering_errors


def register(app: AsyncApp, deps: Deps) -> None:
    async def aicore_command(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]) -> None:
        default_group = deps.settings.aicore_resource_group
        try:
            parsed = parse_aicore(command.get("text") or "", default_resource_group=default_group)
        except InputError as exc:
            await ack(response_type="ephemeral", text=f":warning: {exc}")
            return
        if parsed.name == "help":
            await ack(response_type="ephemeral", text=blocks.help_text("/aicore", default_group))
            return
        await ack(**ack_message(parsed))
        await answering_errors(deps, respond, WORK[parsed.name](deps, parsed, command, respond))

    app.command("/aicore")(aicore_command)
