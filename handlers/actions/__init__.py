"""Button listeners: the status card's buttons and the bulk confirmation.

Each listener records a ``click`` job and acknowledges; :func:`run_click` is the job.
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import blocks
from bot.deps import Deps
from bot.errors import InputError
from bot.runner import JobContext
from handlers.access import admit
from handlers.actions import bulk, card, home, pick, rerun
from handlers.actions.clicks import JOB_KIND, Click, ClickWork, click_of
from handlers.common import private
from handlers.events.home import publish as publish_home_of

log = logging.getLogger(__name__)

CLICKS: dict[str, ClickWork] = {**card.CLICKS, **bulk.CLICKS, **rerun.CLICKS, **home.CLICKS}

#: What each card button asks the policy for ("stop, then delete" needs both rights).
CARD_ACTIONS: dict[str, tuple[str, ...]] = {
    blocks.ACTION_STOP: ("stop",),
    blocks.ACTION_DELETE: ("delete",),
    blocks.ACTION_REFRESH: ("status",),
    blocks.ACTION_LOGS: ("logs",),
    blocks.ACTION_STOP_THEN_DELETE: ("delete", "stop"),
    blocks.ACTION_RERUN: ("start",),
    blocks.ACTION_RERUN_CHANGES: ("start",),
}

__all__ = ["JOB_KIND", "register", "run_click"]


def register(app: AsyncApp, deps: Deps) -> None:
    card.register(app, deps)
    bulk.register(app, deps)
    rerun.register(app, deps)
    pick.register(app, deps)
    home.register(app, deps)


async def run_click(deps: Deps, job: JobContext) -> None:
    click = click_of(job)
    work = CLICKS.get(click.action_id)
    if work is None:
        raise InputError("This button is from an older version of the bot.")
    try:
        if await _admitted(deps, click):
            await work(deps, click)
    finally:
        if click.from_home:  # the tab shows what the click changed (or refused)
            await _republish_home(deps, click.user)


async def _republish_home(deps: Deps, user: str) -> None:
    """Best effort: the click's own outcome (an error, a retry) must not be replaced."""
    try:
        await publish_home_of(deps, user)
    except (SlackApiError, SQLAlchemyError) as exc:
        log.warning("could not redraw the App Home of %s: %s", user, type(exc).__name__)


async def _admitted(deps: Deps, click: Click) -> bool:
    """The clicker's rights, checked at the click: seeing a button grants nothing."""
    run_id: str | None
    if click.action_id in CARD_ACTIONS:
        provider, scope, run_id = click.run_ref()
        wanted = CARD_ACTIONS[click.action_id]
    elif click.action_id in (blocks.ACTION_BULK_CONFIRM, blocks.ACTION_PROTECTED_CONFIRM):
        pending = await deps.store.peek_pending_action(click.value)
        if pending is None:
            return True  # expired or unknown: the work says so
        ids = [str(i) for i in pending.run_ids["ids"]]
        provider, scope = pending.provider, pending.scope
        run_id = ids[0] if len(ids) == 1 else None
        wanted = (pending.action,)
    else:
        return True  # Cancel changes nothing
    for action in wanted:
        decision = await admit(
            deps,
            user=click.user,
            action=action,
            provider=provider,
            resource_group=scope,
            channel=click.channel,
            key=click.cause,
            target=run_id,
        )
        if not decision.allowed:
            await private(click.respond, decision.refusal)
            return False
    return True
