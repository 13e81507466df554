"""Use cases, provider-neutral: start, stop, delete, follow, cards, logs.

Handlers parse and acknowledge; everything that calls a provider, Slack's Web API for cards,
or the store goes through here. Rules about what a status allows live in the providers; this
module refuses what they do not allow before any state-changing call is made.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.errors import InputError, NotFoundError, ProviderError, ProviderUnavailable
from bot.loglinks import LogLinks
from bot.providers.base import Action, LogEntry, Outcome, Provider, Run
from bot.store.repo import Store

log = logging.getLogger(__name__)

LOOKUP_CONCURRENCY = 10


@dataclass
class Assessment:
    """Which runs of a bulk request the action applies to, and why the others are left alone."""

    eligible: list[Run] = field(default_factory=list)
    ineligible: list[tuple[Run, str]] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class StartResult:
    run: Run
    card_ts: str | None
    card_problem: str | None = None


class Service:
    def __init__(
        self,
        *,
        providers: Mapping[str, Provider],
        store: Store,
        slack: AsyncWebClient,
        log_links: LogLinks | None = None,
    ) -> None:
        self.providers = dict(providers)
        self.store = store
        self.slack = slack
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

    async def post_card(
        self, run: Run, *, channel: str, started_by: str | None, origin: str
    ) -> StartResult:
        """Make ``channel`` follow the run, then post its card there.

        The follow is stored first: a crash after the post can leave a card the bot does not
        update, but never a run nobody follows.
        """
        label = self.provider(run.provider).label
        follow = await self.store.follow(
            provider=run.provider,
            scope=run.scope,
            run_id=run.id,
            channel=channel,
            card_ts=None,
            origin=origin,
            status=run.status,
            started_by=started_by,
            snapshot=run.raw,
            status_since=run.modified_at,
        )
        try:
            response = await self.slack.chat_postMessage(
                channel=channel,
                text=blocks.fallback_text(run, label),
                blocks=self.card(run, started_by=started_by or follow.started_by),
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            log.warning("could not post the card of %s in %s: %s", run.id, channel, error)
            if follow.card_ts is None:
                await self.store.unfollow(follow.id)  # nowhere to tell: do not follow
            return StartResult(run, None, _slack_problem(error))
        card_ts = str(response["ts"])
        await self.store.set_card(follow.id, card_ts)
        return StartResult(run, card_ts)

    async def update_card(
        self, run: Run, *, channel: str, ts: str, note: str | None = None, deleted: bool = False
    ) -> None:
        label = self.provider(run.provider).label
        try:
            await self.slack.chat_update(
                channel=channel,
                ts=ts,
                text=blocks.fallback_text(run, label),
                blocks=await self.card_for_channel(run, channel, note=note, deleted=deleted),
            )
        except SlackApiError as exc:
            # The click was handled; a card we cannot edit (deleted, too old) is not the user's
            # problem, so log it and move on.
            log.warning("could not update the card of %s: %s", run.id, exc.response.get("error"))

    async def refresh_cards(
        self, provider_name: str, scope: str, run_id: str, *, deleted_by: str | None = None
    ) -> set[tuple[str | None, str | None]]:
        """Redraw every followed card of a run with its current status; returns (channel, ts)."""
        follows = [
            f
            for f in await self.store.follows_of_run(
                provider=provider_name, scope=scope, run_id=run_id
            )
            if f.card_ts
        ]
        if not follows:
            return set()
        provider = self.provider(provider_name)
        deleted = False
        try:
            run = await provider.get(scope, run_id)
        except NotFoundError:
            run = Run(
                provider=provider_name,
                scope=scope,
                id=run_id,
                status="DELETED",
                lifecycle=provider.lifecycle_of("UNKNOWN"),
            )
            deleted = True
        note = f"Deleted by <@{deleted_by}>." if deleted_by else None
        for follow in follows:
            assert follow.card_ts is not None
            await self.update_card(
                run, channel=follow.channel, ts=follow.card_ts, note=note, deleted=deleted
            )
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
    ) -> StartResult:
        provider = self.provider(provider_name)
        run = await provider.start(scope, target, params)
        log.info("user %s started %s %s in %s", user, provider.name, run.id, scope)
        return await self.post_card(run, channel=channel, started_by=user, origin="start")

    async def watch(
        self, provider_name: str, scope: str, run_id: str, *, channel: str, user: str
    ) -> StartResult:
        run = await self.provider(provider_name).get(scope, run_id)
        return await self.post_card(run, channel=channel, started_by=None, origin="watch")

    async def get(self, provider_name: str, scope: str, run_id: str) -> Run:
        return await self.provider(provider_name).get(scope, run_id)

    async def assess(
        self, provider_name: str, scope: str, run_ids: Sequence[str], action: Action
    ) -> Assessment:
        """Read each run's current status and sort it into eligible, ineligible and missing."""
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
        return result

    async def act(
        self, provider_name: str, scope: str, run_ids: Sequence[str], action: Action
    ) -> list[Outcome]:
        provider = self.provider(provider_name)
        if not run_ids:
            return []
        if action == "stop":
            return await provider.stop(scope, run_ids)
        return await provider.delete(scope, run_ids)

    async def list_runs(self, provider_name: str, scope: str, status: str | None) -> list[Run]:
        return await self.provider(provider_name).list_runs(scope, status=status)

    async def tail_logs(self, run: Run, lines: int) -> list[LogEntry]:
        return await self.provider(run.provider).tail_logs(run, lines)


def _slack_problem(error: str) -> str:
    if error in ("not_in_channel", "channel_not_found"):
        return (
            "I can't post in this channel yet: invite me with `/invite @<bot name>` and use "
            "`/aicore watch` to get the card here."
        )
    return f"Slack refused the card ({error})."
