"""The typed-ID modal of a protected resource group: a wrong ID does nothing and says so.

The submission is checked in the ack path (the answer to a modal is its ``response_action``):
the pending request must exist, be the submitter's and be still open, and the typed ID must be
the run's. Then a ``click`` job confirms the pending request, exactly as the bulk Confirm
button would: the run's status and the submitter's rights are checked again there.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from sqlalchemy.exc import SQLAlchemyError

from bot import blocks
from bot.audit import Actor, Result
from bot.deps import Deps
from bot.store.repo import aware
from handlers.actions.clicks import record_click
from handlers.common import UNRECORDED, request_key

log = logging.getLogger(__name__)

WRONG_ID = "That is not this run's ID, so nothing was done. Type (or paste) `{run_id}` exactly."
EXPIRED = "This request was already handled or has expired. Nothing was done; run it again."
NOT_YOURS = "Only the person who asked can confirm this. Nothing was done."


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        token = _token(view)
        typed = _typed(view)
        try:
            pending = await deps.store.peek_pending_action(token) if token else None
        except SQLAlchemyError as exc:
            log.error("could not read a pending request: %s", type(exc).__name__)
            await _error(ack, UNRECORDED)
            return
        user = str((body.get("user") or {}).get("id") or "")
        if (
            pending is None
            or pending.consumed_at is not None
            or aware(pending.expires_at) <= deps.store.clock()
        ):
            await _error(ack, EXPIRED)
            return
        run_id = str(pending.run_ids["ids"][0])
        why, answer = None, ""
        if pending.user_id != user:
            why, answer = "only the person who asked may confirm", NOT_YOURS
        elif typed != run_id:
            why, answer = "a wrong ID was typed", WRONG_ID.format(run_id=run_id)
        if why is not None:
            await deps.audit.note(
                Actor(user=user, channel=pending.channel or None, cause=request_key(body)),
                pending.action,
                pending.provider,
                pending.scope,
                Result.REFUSED_POLICY,
                target=run_id,
                detail=f"protected: {why}",
            )
            await _error(ack, answer)
            return
        confirm = {
            "type": "block_actions",
            "trigger_id": body.get("trigger_id"),
            "team": body.get("team"),
            "user": {"id": user},
            "channel": {"id": pending.channel or None},
            "actions": [{"action_id": blocks.ACTION_PROTECTED_CONFIRM, "value": token}],
            "response_url": pending.response_url,
            "view_id": view.get("id"),
        }
        await record_click(deps, ack, confirm, modal_block=blocks.TYPED_BLOCK)

    app.view(blocks.CALLBACK_PROTECTED)(on_submit)


async def _error(ack: AsyncAck, text: str) -> None:
    await ack(response_action="errors", errors={blocks.TYPED_BLOCK: text})


def _token(view: dict[str, Any]) -> str | None:
    try:
        token = json.loads(view.get("private_metadata") or "{}").get("token")
    except (ValueError, TypeError, AttributeError):  # not JSON, not a string, not an object
        return None
    return token if isinstance(token, str) and 0 < len(token) <= 64 else None


def _typed(view: dict[str, Any]) -> str:
    values = ((view.get("state") or {}).get("values") or {}).get(blocks.TYPED_BLOCK) or {}
    entry = values.get(blocks.TYPED_ACTION) if isinstance(values, dict) else None
    value = entry.get("value") if isinstance(entry, dict) else None
    return value.strip().strip("`") if isinstance(value, str) else ""
