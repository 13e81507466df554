"""Work the bot gives itself: finishing a "stop, then delete" once the run has stopped.

The poller queues this job (``stop_then_delete``) when a run marked for deletion has
stopped; the job deletes it and tells the channel, then the follow is closed.
"""

from __future__ import annotations

import logging

from bot import blocks, cards
from bot.audit import Actor, Result
from bot.deps import Deps
from bot.errors import NotFoundError, ProviderError, ProviderUnavailable
from bot.jobs import RetryLater
from bot.outbox import Keys, Message, Reply
from bot.runner import JobContext

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10


async def finish_stop_then_delete(deps: Deps, job: JobContext) -> None:
    follow = await deps.store.get_follow_by_id(int(job.payload["follow_id"]))
    if follow is None or not follow.delete_when_stopped_by:
        return  # done already, or the mark was taken back
    provider = deps.service.provider(follow.provider)
    if "deleted" not in job.progress:
        try:
            outcomes = await provider.delete(follow.scope, [follow.run_id])
            ok = bool(outcomes) and outcomes[0].ok
            detail = outcomes[0].message if outcomes else "no answer"
        except NotFoundError:
            ok, detail = True, "already gone"
        except ProviderUnavailable as exc:
            if job.job.attempts < MAX_ATTEMPTS:
                raise RetryLater(60, exc.user_text()) from None
            ok, detail = False, exc.user_text()
        except ProviderError as exc:
            ok, detail = False, exc.user_text()
        await job.checkpoint(deleted=ok, detail=detail)
    ok = bool(job.progress["deleted"])
    asker = follow.delete_when_stopped_by
    await deps.audit.note(
        Actor(user=asker, channel=follow.channel, cause=f"job{job.job.id}"),
        "delete",
        follow.provider,
        follow.scope,
        Result.DONE if ok else Result.FAILED,
        target=follow.run_id,
        detail=None if ok else str(job.progress.get("detail")),
    )
    label = provider.label
    text = (
        f":wastebasket: Deleted {label} `{follow.run_id}` as <@{asker}> asked, "
        "now that it has stopped."
        if ok
        else f":warning: Could not delete `{follow.run_id}` as <@{asker}> asked: "
        f"{job.progress.get('detail')}"
    )
    text = blocks.clip(text, 2000)
    messages: list[tuple[Message, str]] = [
        (Reply(text=text, blocks=blocks.text_blocks(text)), Keys.deleted(follow.id))
    ]
    if ok:
        run = cards.last_known(provider, follow.scope, follow.run_id, follow.snapshot)
        card = cards.update_card(run, provider, started_by=follow.started_by, deleted=True)
        messages.append((card, Keys.card(follow.id, "deleted")))
    await deps.store.finish_deletion(follow.id, deleted=ok, messages=messages)
