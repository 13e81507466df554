"""The ``/bria`` slash command: the same flow as ``/aicore`` with Bria's parser and words."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot import blocks
from bot.commands import parse_bria
from bot.deps import Deps
from bot.errors import InputError
from handlers.commands.runs import WORK, ack_message
from handlers.common import answering_errors


def register(app: AsyncApp, deps: Deps) -> None:
    async def bria_command(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]) -> None:
        try:
            parsed = parse_bria(command.get("text") or "")
        except InputError as exc:
            await ack(response_type="ephemeral", text=f":warning: {exc}")
            return
        if parsed.name == "help":
            await ack(response_type="ephemeral", text=blocks.help_text("/bria", "bria"))
            return
        await ack(**ack_message(parsed))
        await answering_errors(deps, respond, WORK[parsed.name](deps, parsed, command, respond))

    app.command("/bria")(bria_command)
