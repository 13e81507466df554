"""The start form's submission: checked in the ack path, then a ``command`` job starts it.

What can be checked without a provider is checked here, and a problem goes back into the
form's fields (``response_action: errors``): a resource group that is not one, no
configuration picked, parameters that belong to another pick, the access policy. The job
(:func:`handlers.commands.starting.start`) reads the configuration again, makes a copy of it
where parameter values changed, and starts it.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks.start import (
    ACTION_PICK_TARGET,
    CALLBACK_START,
    PARAM_ACTION,
    PARAM_PREFIX,
    SCOPE_ACTION,
    SCOPE_BLOCK,
    TARGET_BLOCK,
    StartForm,
    digest_of,
    target_block,
)
from bot.commands import AI_CORE_ID, Command
from bot.deps import Deps
from handlers.access import admit
from handlers.commands.runs import command_job
from handlers.commands.starting import VIA_FORM
from handlers.common import record_then_ack, request_key

OUT_OF_DATE = "This form is from an older version of the bot. Close it and open it again."
NO_SCOPE = "Type a resource group: 4 to 64 letters, digits, `_`, `.` or `-`."
NO_TARGET = "Pick a configuration to start."
OTHER_PICK = "The parameters below are another configuration's; wait for this one's, or pick again."
TOO_LONG = "At most 5000 characters."
OTHER_SCOPE = (
    "This configuration was picked in `{scope}`: pick it again after changing the resource group."
)


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        form = StartForm.from_metadata(view.get("private_metadata"))
        if form is None:
            await ack(response_action="errors", errors={TARGET_BLOCK: OUT_OF_DATE})
            return
        picker = target_block(form)
        values = _values(view)
        # An input left as views.update drew it may come back as null: it is what was drawn.
        scope = _text(values, SCOPE_BLOCK, SCOPE_ACTION).strip() or form.scope
        target = _picked(values, picker) or form.target
        errors: dict[str, str] = {}
        if not AI_CORE_ID.fullmatch(scope):
            errors[SCOPE_BLOCK] = NO_SCOPE
        if target is None or not AI_CORE_ID.fullmatch(target):
            errors[picker] = NO_TARGET
        elif target == form.target and scope != form.scope:
            errors[picker] = OTHER_SCOPE.format(scope=form.scope)
        params, param_errors = _parameters(values, digest_of(target) if target else None, picker)
        errors.update(param_errors)
        if errors or target is None:
            await ack(response_action="errors", errors=errors)
            return
        user = str((body.get("user") or {}).get("id") or "")
        decision = await admit(
            deps,
            user=user,
            action="start",
            provider="aicore",
            resource_group=scope,
            channel=form.channel,
            key=request_key(body),
            target=target,
        )
        if not decision.allowed:
            await ack(response_action="errors", errors={SCOPE_BLOCK: decision.refusal or ""})
            return
        cmd = Command("start", ids=(target,), resource_group=scope, params=params)
        request = {
            "channel_id": form.channel,
            "user_id": user,
            "response_url": form.response_url,
            "trigger_id": body.get("trigger_id"),
        }
        job = command_job(cmd, request, body)
        job.payload["via"] = VIA_FORM  # its answer must not replace the message it came from
        await record_then_ack(deps, ack, job, modal_block=picker)

    app.view(CALLBACK_START)(on_submit)


def _values(view: dict[str, Any]) -> dict[str, Any]:
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    return values if isinstance(values, dict) else {}


def _entry(values: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    found = values.get(block)
    entry = found.get(action) if isinstance(found, dict) else None
    return entry if isinstance(entry, dict) else {}


def _text(values: dict[str, Any], block: str, action: str) -> str:
    value = _entry(values, block, action).get("value")
    return value if isinstance(value, str) else ""


def _picked(values: dict[str, Any], picker: str) -> str | None:
    option = _entry(values, picker, ACTION_PICK_TARGET).get("selected_option")
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else None


def _parameters(
    values: dict[str, Any], digest: str | None, picker: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The parameter values as submitted, and errors. A field sent as null (untouched since
    the bot drew it, or emptied) keeps the configuration's value."""
    params: dict[str, str] = {}
    errors: dict[str, str] = {}
    for block_id in values:
        if not isinstance(block_id, str) or not block_id.startswith(PARAM_PREFIX):
            continue
        shown_for, _, key = block_id[len(PARAM_PREFIX) :].partition(".")
        if digest is not None and shown_for != digest:
            errors[picker] = OTHER_PICK
            continue
        value = _entry(values, block_id, PARAM_ACTION).get("value")
        if not isinstance(value, str):
            continue
        if len(value) > 5000:
            errors[block_id] = TOO_LONG
        params[key] = value
    return params, errors
