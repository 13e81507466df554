"""What the listeners share: recording the work before the acknowledgement, and answers.

Every listener checks what it can without calling anyone (the command's syntax, the
button's value), then records a job and only then acknowledges. The job, run by a worker,
does the rest and answers through the request's ``response_url``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck
from sqlalchemy.exc import SQLAlchemyError

from bot.deps import Deps
from bot.direct import Respond
from bot.errors import ChatOpsError
from bot.jobs import Enqueued, NewJob

log = logging.getLogger(__name__)

UNRECORDED = (
    ":warning: The bot cannot record your request right now (its database does not answer), "
    "so nothing was done. Try again in a minute."
)


def error_text(exc: ChatOpsError) -> str:
    return f":warning: {exc.user_text()}"


def request_key(body: dict[str, Any]) -> str:
    """Slack's identity of a request: the same for a retry or a redelivered envelope.

    Each command and each click carries its own ``trigger_id``; a retry repeats the body.
    """
    trigger = body.get("trigger_id")
    team = (body.get("team") or {}).get("id") if isinstance(body.get("team"), dict) else None
    if trigger:
        return f"slack:{team or body.get('team_id') or '-'}:{trigger}"
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return f"slack:body:{digest}"


async def record_then_ack(
    deps: Deps,
    ack: AsyncAck,
    job: NewJob,
    *,
    ack_text: str | None = None,
    busy_text: str | None = None,
    modal_block: str | None = None,
) -> None:
    """Record ``job``, then acknowledge: no acknowledged request can be forgotten.

    ``modal_block``: the request is a modal's submission, whose answer is field errors (a
    message there would be refused by Slack); a failure to record is shown on that block.
    """
    try:
        outcome = await deps.jobs.enqueue(job)
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        log.error("could not record a %s job: %s: %s", job.kind, type(exc).__name__, cause)
        if modal_block is not None:
            await ack(response_action="errors", errors={modal_block: UNRECORDED})
        else:
            await ack(response_type="ephemeral", text=UNRECORDED)
        return
    if outcome == Enqueued.REPEATED:
        log.info("Slack sent %s again; it is already recorded", job.dedupe_key)
        await ack()
    elif outcome == Enqueued.BUSY and busy_text:
        await ack(response_type="ephemeral", text=busy_text)
    elif ack_text:
        await ack(response_type="ephemeral", text=ack_text)
    else:
        await ack()


async def private(
    respond: Respond,
    text: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    *,
    replace: bool = False,
) -> None:
    await respond(
        text=text or " ", blocks=blocks, response_type="ephemeral", replace_original=replace
    )
