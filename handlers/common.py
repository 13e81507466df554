"""Helpers the listeners share: turning our errors into answers the user can act on."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.deps import Deps
from bot.errors import ChatOpsError, ProviderError

log = logging.getLogger(__name__)


def describe(exc: ChatOpsError) -> str:
    """The user-facing sentence; provider errors carry code and requestId for support."""
    return exc.user_text() if isinstance(exc, ProviderError) else str(exc)


def error_text(exc: ChatOpsError) -> str:
    return f":warning: {describe(exc)}"


async def answering_errors(
    deps: Deps, respond: AsyncRespond, work: Coroutine[Any, Any, None]
) -> None:
    """Run the after-ack work on the work loop; our errors become a private answer.

    Anything else is a bug: it propagates to Bolt's error handler, which logs the traceback.
    """
    await deps.offload(_answering(respond, work))


async def _answering(respond: AsyncRespond, work: Coroutine[Any, Any, None]) -> None:
    try:
        await work
    except ChatOpsError as exc:
        log.info("answered with an error: %s", exc)
        await respond(text=error_text(exc), response_type="ephemeral", replace_original=False)


async def private(
    respond: AsyncRespond,
    text: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    *,
    replace: bool = False,
) -> None:
    await respond(
        text=text or " ", blocks=blocks, response_type="ephemeral", replace_original=replace
    )
