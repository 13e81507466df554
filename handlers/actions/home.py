"""The App Home tab's own button: Start a run (the start form, for the default resource group)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks.home import ACTION_HOME_START
from bot.blocks.start import StartForm
from bot.deps import Deps
from handlers.actions.clicks import Click, ClickWork, record_click
from handlers.start_form import open_form


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_click(ack: AsyncAck, body: dict[str, Any]) -> None:
        await record_click(deps, ack, body, per_user=True)

    app.action(ACTION_HOME_START)(on_click)


async def _start_form(deps: Deps, click: Click) -> None:
    # The form's resource group is the bot's default; the user may type another there.
    form = StartForm(scope=deps.settings.aicore_resource_group, channel=None, response_url=None)
    await open_form(deps, click.job, form, trigger_id=click.trigger_id)


CLICKS: dict[str, ClickWork] = {ACTION_HOME_START: _start_form}
