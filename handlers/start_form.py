"""The start form's work after the acknowledgement: open it, and fill in a picked
configuration's parameters.

The modal opens first, with nothing a provider must answer (the ``trigger_id`` expires 3 s
after the command or click); a configuration's parameters follow with ``views.update``. A
pick is a ``form`` job, read in the resource group typed in the form at the time. Two picks in
quick succession both update the view, without a hash: the last update wins (Slack's hash
would make the first one win, usually the older pick's). A submission whose parameters are
another pick's is refused by its digest (see :mod:`bot.blocks.start`), and picking again
mends it.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.blocks.start import SCOPE_ACTION, SCOPE_BLOCK, StartForm, digest_of, start_modal
from bot.commands import AI_CORE_ID
from bot.deps import Deps
from bot.errors import ChatOpsError
from bot.runner import JobContext
from handlers.common import private

log = logging.getLogger(__name__)

JOB_KIND = "form"
FORM_EXPIRED = (
    "The start form could not be opened in time (Slack allows 3 seconds). Nothing was done: "
    "try again, or start by name: `/aicore start <configuration name>`."
)


async def open_form(
    deps: Deps,
    job: JobContext,
    form: StartForm,
    *,
    trigger_id: str | None,
    chosen_id: str | None = None,
) -> None:
    """Open the start form; with ``chosen_id``, filled in with that configuration."""
    label = deps.service.provider("aicore").label
    try:
        if not trigger_id:
            raise LookupError("no trigger_id")
        opened = await deps.service.slack.views_open(
            trigger_id=trigger_id,
            view=start_modal(form, label=label, loading=chosen_id is not None),
        )
    except (SlackApiError, LookupError) as exc:
        reason = exc.response.get("error") if isinstance(exc, SlackApiError) else str(exc)
        log.info("the start form could not open (%s)", reason)
        await private(job.respond, FORM_EXPIRED)
        return
    if chosen_id is not None:
        view = opened["view"]
        await fill_form(deps, form, chosen_id, view_id=view["id"])


async def fill_form(deps: Deps, form: StartForm, target_id: str, *, view_id: str) -> None:
    """Redraw the form with ``target_id``'s parameters (or why they cannot be shown)."""
    provider = deps.service.provider("aicore")
    picked = StartForm(
        scope=form.scope,
        channel=form.channel,
        response_url=form.response_url,
        target=target_id,
        digest=digest_of(target_id),
    )
    try:
        target = await provider.get_target(form.scope, target_id)
        view = start_modal(picked, label=provider.label, chosen=target)
    except ChatOpsError as exc:
        view = start_modal(form, label=provider.label, problem=exc.user_text())
    try:
        await deps.service.slack.views_update(view_id=view_id, view=view)
    except SlackApiError as exc:  # not_found: the form was closed meanwhile
        log.info("the start form was not redrawn: %s", exc.response.get("error"))


def pick_payload(body: dict[str, Any]) -> dict[str, Any]:
    """What a pick in the form records: the view to redraw and what was picked."""
    view: dict[str, Any] = body["view"] if isinstance(body.get("view"), dict) else {}
    action = (body.get("actions") or [{}])[0]
    option = action.get("selected_option") if isinstance(action, dict) else None
    return {
        "user_id": (body.get("user") or {}).get("id"),
        "view_id": view.get("id"),
        "metadata": view.get("private_metadata"),
        "scope": typed_scope(view),
        "target": option.get("value") if isinstance(option, dict) else None,
    }


def typed_scope(view: dict[str, Any]) -> str | None:
    """The resource group as typed in the form right now (Slack sends the form's state)."""
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    block = values.get(SCOPE_BLOCK) if isinstance(values, dict) else None
    entry = block.get(SCOPE_ACTION) if isinstance(block, dict) else None
    value = entry.get("value") if isinstance(entry, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


async def run_form_job(deps: Deps, job: JobContext) -> None:
    payload = job.payload
    form = StartForm.from_metadata(payload.get("metadata"))
    target = payload.get("target")
    view_id = payload.get("view_id")
    if form is None or not isinstance(view_id, str) or not isinstance(target, str):
        log.info("a pick in a start form that is not one of ours; ignored")
        return
    typed_in = payload.get("scope")
    scope = typed_in if isinstance(typed_in, str) else form.scope
    if not AI_CORE_ID.fullmatch(target) or not AI_CORE_ID.fullmatch(scope):
        log.info("a pick of %r in %r is not an ID; ignored", target[:80], scope[:80])
        return
    typed = StartForm(scope=scope, channel=form.channel, response_url=form.response_url)
    await fill_form(deps, typed, target, view_id=view_id)
