"""Button listeners: the status card's buttons and the bulk confirmation.

Each listener records a ``click`` job and acknowledges; :func:`run_click` is the job.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from bot.errors import InputError
from bot.runner import JobContext
from handlers.actions import bulk, card
from handlers.actions.clicks import JOB_KIND, ClickWork, click_of

CLICKS: dict[str, ClickWork] = {**card.CLICKS, **bulk.CLICKS}

__all__ = ["JOB_KIND", "register", "run_click"]


def register(app: AsyncApp, deps: Deps) -> None:
    card.register(app, deps)
    bulk.register(app, deps)


async def run_click(deps: Deps, job: JobContext) -> None:
    click = click_of(job)
    work = CLICKS.get(click.action_id)
    if work is None:
        raise InputError("This button is from an older version of the bot.")
    await work(deps, click)
