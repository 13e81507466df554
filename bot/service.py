"""Use cases, provider-neutral: start, stop, delete, follow, cards, logs.

Handlers parse, record a job and acknowledge; the jobs call here for everything that touches
a provider or the store. Cards are never sent from here: they are queued in the outbox (see
:mod:`bot.cards`), which delivery sends in order. Rules about what a status allows live in the
providers; this module refuses what they do not allow before any state-changing call is made.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, cards
from bot.audit import Actor, Audit, Result
from bot.errors import InputError, NotFoundError, ProviderError, ProviderUnavailable
from bot.jobs import RetryLater
from bot.loglinks import LogLinks
from bot.providers.base import Action, LogEntry, Outcome, Provider, Run
from bot.store.repo import Store
from bot.store.tables import Follow

log = logging.getLogger(__name__)

LOOKUP_CONCURRENCY = 10
# A start resumed after its worker died looks for the run it may have created: created since
# the POST went out (less this, for clock skew between AI Core and the database).
START_SKEW = timedelta(seconds=60)
# ...and waits this long after the POST before concluding that it created none (the POST of a
# stalled worker may still arrive).
START_SETTLE_SECONDS = 120.0


class Ledger(Protocol):
    """Where a job keeps its progress (``bot.runner.JobContext``)."""

    @property
    def progress(self) -> dict[str, Any]: ...

    async def checkpoint(self, *, stamp: str | None = None, **progress: Any) -> float: ...

    async def claim_run(self, run_key: str, run_id: str) -> bool: ...


@dataclass
class Assessment:
    """Which runs of a bulk request the action applies to, and why the others are left alone."""

    eligible: list[Run] = field(default_factory=list)
    ineligible: list[tuple[Run, str]] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Followed:
    run: Run
    follow: Follow


def _run_key(run: Run) -> str:
    return f"{run.provider}:{run.scope}:{run.id}"


class Service:
    def __init__(
        self,
        *,
        providers: Mapping[str, Provider],
        store: Store,
        slack: AsyncWebClient,
        audit: Audit,
        log_links: LogLinks | None = None,
    ) -> None:
        self.providers = dict(providers)
        self.store = store
        self.slack = slack
        self.audit = audit
        self.log_links = log_links

    def log_link(self, run: Run) -> str | None:
        """A signed link to the log page, when ``PUBLIC_URL`` is set."""
        if self.log_links is None:
            return None
        return self.log_links.url_for(run.provider, run.scope, run.id)

    def provider(self, name: str) -> Provider:
        try:
            return self.providers[name]
        except KeyError:
            raise InputError(
                f"This bot has no {name} credentials configured; ask its operator to set them."
            ) from None

    # -- cards -------------------------------------------------------------------------------

    def card(
        self,
        run: Run,
        *,
        started_by: str | None = None,
        note: str | None = None,
        deleted: bool = False,
    ) -> blocks.Blocks:
        return blocks.run_card(
            run,
            style=self.provider(run.provider).style,
            started_by=started_by,
            note=note,
            deleted=deleted,
        )

    async def card_for_channel(
        self, run: Run, channel: str, *, note: str | None = None, deleted: bool = False
    ) -> blocks.Blocks:
        follow = await self.store.get_follow(
            provider=run.provider, scope=run.scope, run_id=run.id, channel=channel
        )
        started_by = follow.started_by if follow else None
        return self.card(run, started_by=started_by, note=note, deleted=deleted)

    async def follow_run(
        self,
        run: Run,
        *,
        channel: str,
        started_by: str | None,
        origin: str,
        cause: str,
        response_url: str | None = None,
        repost: bool = True,
    ) -> Followed:
        """Make ``channel`` follow the run and queue its card there, in one transaction.

        ``repost=False``: if the channel follows it already (its subscription was quicker),
        redraw that card rather than post a second one.
        """
        provider = self.provider(run.provider)
        redraw = None if repost else cards.update_card(run, provider, started_by=started_by)
        follow = await self.store.follow(
            provider=run.provider,
            scope=run.scope,
            run_id=run.id,
            channel=channel,
            origin=origin,
            status=run.status,
            started_by=started_by,
            snapshot=run.raw,
            status_since=run.modified_at,
            card=cards.post_card(run, provider, started_by=started_by, response_url=response_url),
            redraw=redraw,
            card_cause=cause,
        )
        return Followed(run, follow)

    async def redraw_card(
        self,
        run: Run,
        follow: Follow,
        *,
        cause: str,
        note: str | None = None,
        deleted: bool = False,
    ) -> None:
        message = cards.update_card(
            run,
            self.provider(run.provider),
            started_by=follow.started_by,
            note=note,
            deleted=deleted,
        )
        await self.store.queue_card(follow, message, cause)

    async def redraw_clicked_card(
        self,
        run: Run,
        *,
        channel: str,
        ts: str,
        cause: str,
        note: str | None = None,
        deleted: bool = False,
    ) -> bool:
        """Redraw the card a click came from; False when it is not a followed card."""
        follow = await self.store.follow_of_card(channel=channel, card_ts=ts)
        if follow is None:
            log.info("the clicked message %s in %s is not a followed card", ts, channel)
            return False
        await self.redraw_card(run, follow, cause=cause, note=note, deleted=deleted)
        return True

    async def refresh_cards(
        self,
        provider_name: str,
        scope: str,
        run_id: str,
        *,
        cause: str,
        deleted_by: str | None = None,
    ) -> set[tuple[str, str | None]]:
        """Redraw every card of a run with its current status; returns (channel, card ts)."""
        follows = [
            f
            for f in await self.store.follows_of_run(
                provider=provider_name, scope=scope, run_id=run_id
            )
            if f.origin != "alerts"
        ]
        if not follows:
            return set()
        provider = self.provider(provider_name)
        deleted = False
        try:
            run = await provider.get(scope, run_id)
        except NotFoundError:
            run = cards.last_known(provider, scope, run_id, {})
            deleted = True
        note = f"Deleted by <@{deleted_by}>." if deleted_by else None
        for follow in follows:
            await self.redraw_card(run, follow, cause=cause, note=note, deleted=deleted)
        return {(f.channel, f.card_ts) for f in follows}

    # -- use cases ---------------------------------------------------------------------------

    async def start(
        self,
        provider_name: str,
        scope: str,
        target: str,
        params: Mapping[str, str],
        *,
        channel: str,
        user: str,
        ledger: Ledger,
        cause: str,
        response_url: str | None = None,
    ) -> Followed:
        """Start a run at most once, however many attempts the job takes.

        Before the start is sent, the job records that it may go out; an attempt that finds
        that record (its predecessor died) looks the run up instead of starting another. Each
        run is claimed by one job: AI Core cannot say which request created a run, so a
        resumed start adopts a run of its configuration created since its POST, and a start
        whose run was adopted that way takes the one left over.
        """
        provider = self.provider(provider_name)
        actor = Actor(user=user, channel=channel, cause=cause)
        what = f"configuration {target}" if provider_name == "aicore" else f"model {target}"
        try:
            run = await self._started_before(provider, scope, target, ledger)
            if run is None:
                posting_at = await ledger.checkpoint(stamp="posting_at")
                run = await provider.start(scope, target, params)
                if not await ledger.claim_run(_run_key(run), run.id):
                    run = await self._adopt(provider, scope, target, posting_at, ledger)
                log.info("user %s started %s %s in %s", user, provider.name, run.id, scope)
        except ProviderError as exc:
            await self.audit.note(
                actor,
                "start",
                provider_name,
                scope,
                Result.FAILED,
                target=target,
                request_id=exc.request_id,
                detail=f"{what}: {exc.message}",
            )
            raise
        await self.audit.note(
            actor, "start", provider_name, scope, Result.DONE, target=run.id, detail=what
        )
        return await self.follow_run(
            run,
            channel=channel,
            started_by=user,
            origin="start",
            cause=cause,
            response_url=response_url,
            repost=False,
        )

    async def _started_before(
        self, provider: Provider, scope: str, target: str, ledger: Ledger
    ) -> Run | None:
        progress = ledger.progress
        if progress.get("run_id"):
            return await provider.get(scope, str(progress["run_id"]))
        posting_at = progress.get("posting_at")
        if posting_at is None:
            return None
        return await self._adopt(provider, scope, target, float(posting_at), ledger)

    async def _adopt(
        self, provider: Provider, scope: str, target: str, posting_at: float, ledger: Ledger
    ) -> Run:
        """The oldest run of ``target`` created since the POST that no other job owns."""
        since = datetime.fromtimestamp(posting_at, UTC) - START_SKEW
        for run in await provider.find_started(scope, target, since):
            if await ledger.claim_run(_run_key(run), run.id):
                log.info("a start of %s found the run it had created: %s", target, run.id)
                return run
        if await ledger.checkpoint() - posting_at < START_SETTLE_SECONDS:
            raise RetryLater(15, f"the start of {target} may still be on its way")
        raise InputError(
            f"The bot was interrupted while starting `{target}`, and no new {provider.label} "
            "run of it was found, so nothing was started. Try again."
        )

    async def watch(
        self, provider_name: str, scope: str, run_id: str, *, channel: str, cause: str
    ) -> Followed:
        run = await self.provider(provider_name).get(scope, run_id)
        return await self.follow_run(
            run, channel=channel, started_by=None, origin="watch", cause=cause
        )

    async def get(self, provider_name: str, scope: str, run_id: str) -> Run:
        return await self.provider(provider_name).get(scope, run_id)

    async def assess(
        self,
        provider_name: str,
        scope: str,
        run_ids: Sequence[str],
        action: Action,
        *,
        actor: Actor,
    ) -> Assessment:
        """Read each run's current status and sort it into eligible, ineligible and missing;
        the runs left alone go into the audit trail as ``actor``'s (refused by status, or
        failed: not found)."""
        provider = self.provider(provider_name)
        semaphore = asyncio.Semaphore(LOOKUP_CONCURRENCY)

        async def look(run_id: str) -> Run | ProviderError:
            async with semaphore:
                try:
                    return await provider.get(scope, run_id)
                except ProviderError as exc:
                    return exc

        found = await asyncio.gather(*(look(run_id) for run_id in run_ids))
        if found and all(isinstance(item, ProviderUnavailable) for item in found):
            first = found[0]
            assert isinstance(first, ProviderUnavailable)
            raise first  # nothing could be read: say so once rather than 100 times
        result = Assessment()
        for run_id, item in zip(run_ids, found, strict=True):
            if isinstance(item, NotFoundError):
                result.missing.append((run_id, f"no such {provider.label} run in `{scope}`"))
            elif isinstance(item, ProviderError):
                result.missing.append((run_id, item.user_text()))
            elif provider.allows(item.status, action):
                result.eligible.append(item)
            else:
                result.ineligible.append(
                    (item, blocks.refusal_reason(item, action, provider.style))
                )
        await self.audit.note_refused(actor, action, scope, result.ineligible)
        for run_id, why in result.missing:
            await self.audit.note(
                actor, action, provider_name, scope, Result.FAILED, target=run_id, detail=why
            )
        return result

    async def act(
        self,
        provider_name: str,
        scope: str,
        run_ids: Sequence[str],
        action: Action,
        *,
        actor: Actor,
    ) -> list[Outcome]:
        """Stop or delete ``run_ids``; each outcome goes into the audit trail."""
        provider = self.provider(provider_name)
        if not run_ids:
            return []
        try:
            if action == "stop":
                outcomes = await provider.stop(scope, run_ids)
            else:
                outcomes = await provider.delete(scope, run_ids)
        except ProviderError as exc:
            for run_id in run_ids:
                await self.audit.note(
                    actor,
                    action,
                    provider_name,
                    scope,
                    Result.FAILED,
                    target=run_id,
                    request_id=exc.request_id,
                    detail=exc.message,
                )
            raise
        for outcome in outcomes:
            await self.audit.note(
                actor,
                action,
                provider_name,
                scope,
                Result.DONE if outcome.ok else Result.FAILED,
                target=outcome.run_id,
                request_id=outcome.request_id,
                detail=None if outcome.ok else outcome.message,
            )
        return outcomes

    async def list_runs(self, provider_name: str, scope: str, status: str | None) -> list[Run]:
        return await self.provider(provider_name).list_runs(scope, status=status)

    async def tail_logs(self, run: Run, lines: int) -> list[LogEntry]:
        return await self.provider(run.provider).tail_logs(run, lines)
