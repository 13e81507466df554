"""Re-run and Re-run with changes, on the card of a finished run.

Re-run (behind Slack's confirm dialog) starts the run's configuration again: the run is read
again for it, the clicker's right to start is checked at the click (see
:func:`handlers.actions._admitted`), and the start is the same as a typed one. The new run
gets its own card, and the old card's thread links to it: a job of its own (``rerun_link``)
waits for delivery to post the new card, trying again every few seconds, so no worker sits
waiting and a card held up in a busy channel is still linked. Re-run with changes opens the
start form with the configuration picked (its parameters follow).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError

from bot import blocks, outbox
from bot.blocks.start import StartForm
from bot.commands import Command
from bot.deps import Deps
from bot.errors import InputError, NotFoundError
from bot.jobs import PRIORITY_BACKGROUND, JobQueue, NewJob, RetryLater
from bot.runner import JobContext
from bot.service import Followed
from handlers.actions.clicks import Click, ClickWork, record_click
from handlers.commands.asked import Asked
from handlers.commands.starting import start_target, started_text
from handlers.common import private
from handlers.start_form import open_form

log = logging.getLogger(__name__)

LINK_JOB = "rerun_link"
# Delivery paces a channel to one post a second and honours Slack's Retry-After: a new card
# may take a while. The link job looks again after 2, 4, ... at most 15 s, for about 5 min.
LINK_ATTEMPTS = 25
LINK_MAX_PAUSE_SECONDS = 15.0


def register(app: AsyncApp, deps: Deps) -> None:
    async def on_click(ack: AsyncAck, body: dict[str, Any]) -> None:
        await record_click(deps, ack, body, per_user=True)

    app.action(blocks.ACTION_RERUN)(on_click)
    app.action(blocks.ACTION_RERUN_CHANGES)(on_click)


async def _rerun(deps: Deps, click: Click) -> None:
    provider, scope, run_id = click.run_ref()
    label = deps.service.provider(provider).label
    resumed = click.job.progress.get("target_id")
    if isinstance(resumed, str):  # an earlier attempt resolved it (and may have started it)
        await _start_again(deps, click, provider, scope, resumed)
        return
    try:
        run = await deps.service.get(provider, scope, run_id)
    except NotFoundError:
        await private(
            click.respond,
            f"{label} `{run_id}` no longer exists, so it cannot be re-run. Nothing was started.",
        )
        return
    if not run.target_id:
        raise InputError(f"{label} does not say what `{run_id}` was started from.")
    await _start_again(deps, click, provider, scope, run.target_id)


async def _start_again(deps: Deps, click: Click, provider: str, scope: str, target: str) -> None:
    cmd = Command("start", provider=provider, ids=(target,), resource_group=scope)
    asked = Asked(
        channel=click.channel or "", user=click.user, respond=click.respond, job=click.job
    )
    result, _ = await start_target(deps, cmd, target, asked)
    if not click.job.progress.get("answered"):
        await private(click.respond, started_text(cmd, result, None, in_dm=not click.channel))
        await click.job.checkpoint(answered=True)
    await _link_from_old_card(deps, click, result)


async def _link_from_old_card(deps: Deps, click: Click, result: Followed) -> None:
    """Ask for a reply in the old card's thread naming the new run (see :func:`link_rerun`)."""
    if not click.channel or not click.message_ts or click.ephemeral:
        return
    old = await deps.store.follow_of_card(channel=click.channel, card_ts=click.message_ts)
    if old is None:
        return
    payload = {
        "old_follow": old.id,
        "new_follow": result.follow.id,
        "run_id": result.run.id,
        "status": result.run.status,
        "user": click.user,
        "rerun_job": click.job.job.id,
    }
    link = NewJob(
        kind=LINK_JOB,
        payload=payload,
        dedupe_key=f"{LINK_JOB}:{click.job.job.id}",  # a resumed Re-run asks once
        priority=PRIORITY_BACKGROUND,
    )
    # An ordinary write, not the acknowledgement's quick one (which gives up after 2 s):
    # the run has started, and a busy database must not make this look like a failure.
    db = deps.jobs.db
    await db.write(lambda session: JobQueue.add(session, link, db))


async def link_rerun(deps: Deps, job: JobContext) -> None:
    """The ``rerun_link`` job: once the new card is posted, link it from the old thread."""
    payload = job.payload
    old = await deps.store.get_follow_by_id(int(payload["old_follow"]))
    if old is None:
        return
    new_id = int(payload["new_follow"])
    # Asked before the follow is read: delivery records the card's ts and its row's delivery
    # together, so "on its way" and then "no ts" cannot both be stale.
    on_its_way = await deps.store.card_on_its_way(new_id)
    new = await deps.store.get_follow_by_id(new_id)
    ts = new.card_ts if new is not None else None
    if ts is None and on_its_way and job.job.attempts < LINK_ATTEMPTS:
        pause = min(2.0 * job.job.attempts, LINK_MAX_PAUSE_SECONDS)
        raise RetryLater(pause, f"the card of {payload['run_id']} is not posted yet")
    run = f"`{payload['run_id']}`"
    if ts is None:
        where = "its card follows in this channel" if on_its_way else "its card could not be posted"
        named = f"{run}; {where}."
    else:
        link = await _permalink(deps, new.channel if new else old.channel, ts)
        named = f"<{link}|{run}>." if link else f"{run}; its card is in this channel."
    text = (
        f":repeat: Re-run by <@{payload['user']}> as {blocks.escape(str(payload['status']))} run "
        + named
    )
    await deps.store.queue_reply(
        old,
        outbox.Reply(text=text, blocks=blocks.text_blocks(text)),
        outbox.Keys.rerun(old.id, int(payload["rerun_job"])),
    )


async def _permalink(deps: Deps, channel: str, ts: str) -> str | None:
    """A link to the message, or None (the reply then names the run without one)."""
    try:
        answer = await deps.service.slack.chat_getPermalink(channel=channel, message_ts=ts)
    except SlackApiError as exc:
        log.info("no permalink for the new card: %s", exc.response.get("error"))
        return None
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.info("no permalink for the new card: %s", type(exc).__name__)
        return None
    link = answer.get("permalink")
    return link if isinstance(link, str) else None


async def _rerun_with_changes(deps: Deps, click: Click) -> None:
    """The form first, with nothing a provider must answer: the trigger expires in 3 s."""
    _provider, scope, _run_id = click.run_ref()
    try:
        target = blocks.parse_rerun_target(click.value)
    except (KeyError, ValueError, TypeError):
        raise InputError("This button is from an older version of the bot.") from None
    form = StartForm(
        scope=scope, channel=click.channel, response_url=click.job.payload.get("response_url")
    )
    await open_form(deps, click.job, form, trigger_id=click.trigger_id, chosen_id=target)


CLICKS: dict[str, ClickWork] = {
    blocks.ACTION_RERUN: _rerun,
    blocks.ACTION_RERUN_CHANGES: _rerun_with_changes,
}
