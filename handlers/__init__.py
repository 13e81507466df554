"""Slack listeners, one package per listener kind, each with ``register(app, deps)``.

Listeners record jobs; :func:`job_functions` is what a worker runs them with.
"""

from __future__ import annotations

import functools

from slack_bolt.async_app import AsyncApp

from bot.deps import Deps
from bot.runner import JobFunction
from handlers import actions, commands, events, options, start_form, views
from handlers.actions import rerun
from handlers.commands.runs import JOB_KIND as COMMAND_JOB
from handlers.commands.runs import run_command
from handlers.events.home import JOB_KIND as HOME_JOB
from handlers.events.home import run_home_job


def register_all(app: AsyncApp, deps: Deps) -> None:
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
    options.register(app, deps)
    events.register(app, deps)


def job_functions(deps: Deps) -> dict[str, JobFunction]:
    return {
        COMMAND_JOB: functools.partial(run_command, deps),
        actions.JOB_KIND: functools.partial(actions.run_click, deps),
        start_form.JOB_KIND: functools.partial(start_form.run_form_job, deps),
        HOME_JOB: functools.partial(run_home_job, deps),
        rerun.LINK_JOB: functools.partial(rerun.link_rerun, deps),
    }
