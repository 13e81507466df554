"""The start form's picker: the configurations of the form's resource group, as typed.

The options *are* the acknowledgement, so this is the one listener that waits for AI Core:
through :class:`bot.catalogue.Catalogue` (a short-lived listing per resource group, at most
2 s), never longer than Slack's 3 s. What the user may not start, they are not shown.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.access.guard import Asking
from bot.blocks.start import ACTION_PICK_TARGET, StartForm, options_answer
from bot.commands import AI_CORE_ID
from bot.deps import Deps
from bot.errors import ChatOpsError
from handlers.start_form import typed_scope

log = logging.getLogger(__name__)


def register(app: AsyncApp, deps: Deps) -> None:
    async def suggest(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack(**await answer(deps, body))

    app.options(ACTION_PICK_TARGET)(suggest)


async def answer(deps: Deps, body: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = body["view"] if isinstance(body.get("view"), dict) else {}
    form = StartForm.from_metadata(view.get("private_metadata"))
    if form is None:
        return options_answer([], note="This form is out of date: open it again")
    scope = typed_scope(view) or form.scope
    if not AI_CORE_ID.fullmatch(scope):
        return options_answer([], note="Type a valid resource group first")
    user = (body.get("user") or {}).get("id")
    decision = await deps.guard.check(
        Asking(user=str(user or ""), action="start", resource_group=scope, channel=form.channel)
    )
    if not decision.allowed:
        return options_answer([], note=f"You may not start runs in {scope}")
    text = str(body["value"]) if isinstance(body.get("value"), str) else ""
    try:
        provider = deps.service.provider("aicore")
        found = await deps.catalogue.matching(provider, scope, text[:80])
    except ChatOpsError as exc:
        log.info("no configurations to suggest in %s: %s", scope, exc)
        return options_answer([], note="AI Core did not answer: type again")
    if not found:
        return options_answer([], note=f"No configuration in {scope} matches")
    return options_answer(found)
