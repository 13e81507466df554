"""``app_home_opened``: the user's Home tab, drawn afresh each time it is opened.

The event is recorded as a ``home`` job and acknowledged; the job reads the store (never a
provider per run, see :mod:`bot.home`) and publishes the view. Opens in quick succession fold
into one job per user. A click on the tab's buttons publishes it again (see
:func:`handlers.actions.run_click`).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from sqlalchemy.exc import SQLAlchemyError

from bot.access.guard import Asking
from bot.deps import Deps
from bot.home import publish_home
from bot.jobs import PRIORITY_INTERACTIVE, NewJob
from bot.runner import JobContext

log = logging.getLogger(__name__)

JOB_KIND = "home"


def home_job(user: str, key: str) -> NewJob:
    return NewJob(
        kind=JOB_KIND,
        payload={"home_of": user},
        dedupe_key=key[:255],
        active_key=f"home:{user}",
        priority=PRIORITY_INTERACTIVE,
    )


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_home_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        user = event.get("user")
        if event.get("tab") != "home" or not isinstance(user, str):
            return  # the Messages tab, or not a user
        key = f"event:{body.get('event_id') or event.get('event_ts')}"
        try:
            await deps.jobs.enqueue(home_job(user, key))
        except SQLAlchemyError as exc:  # the tab stays as it was; the next open tries again
            log.error("could not record the App Home of %s: %s", user, type(exc).__name__)

    app.event("app_home_opened")(on_home_opened)


async def run_home_job(deps: Deps, job: JobContext) -> None:
    await publish(deps, str(job.payload["home_of"]))


async def publish(deps: Deps, user: str) -> None:
    async def may_list(scope: str) -> bool:
        asking = Asking(user=user, action="list", resource_group=scope, channel=None)
        return (await deps.guard.check(asking)).allowed

    await publish_home(
        deps.store.db,
        deps.service.slack,
        deps.service.providers,
        user,
        default_scope=deps.settings.aicore_resource_group,
        may_list=may_list,
    )
