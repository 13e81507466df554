"""Delivery: outbox → Slack, at most one post per second per channel, each message once.

A message is marked delivered only after Slack accepted it. Before a post we mark it in flight;
every post carries Slack message metadata naming its outbox row, so if we crash (or lose
Slack's answer) after Slack accepted it, the retry first looks in the channel's history for
that row and records it instead of posting again. ``chat.update`` of a card is idempotent and
coalesced: only the newest state of a card is sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select, update

from bot import blocks, metrics
from bot.errors import ProviderError
from bot.loglinks import LogLinks
from bot.providers.base import Lifecycle, Provider, Run
from bot.store.db import Database
from bot.store.repo import utcnow
from bot.store.tables import Follow, OutboxMessage

log = logging.getLogger(__name__)

METADATA_EVENT = "chatops_outbox"
POSTS = frozenset({"card_post", "thread", "alert", "digest", "summary"})
# Slack errors that will not go away by trying again: drop the message and say why in the row.
PERMANENT = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "invalid_blocks",
        "msg_too_long",
        "no_text",
        "restricted_action",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
    }
)
ALERT_LOG_LINES = 20
BATCH = 200
MAX_BACKOFF_SECONDS = 300.0


class Delivery:
    def __init__(
        self,
        *,
        db: Database,
        slack: AsyncWebClient,
        providers: Mapping[str, Provider],
        log_links: LogLinks | None = None,
        post_interval: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.slack = slack
        self.providers = dict(providers)
        self.log_links = log_links
        self.post_interval = post_interval
        self.clock = clock
        self._next_post: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until ``stop`` is set; the message being sent when it is set is finished."""
        while not stop.is_set():
            await self.drain()
            self._wake.clear()
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, timeout=0.25, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()

    def stop_soon(self) -> None:
        self._stopping = True

    async def drain(self) -> int:
        """Send what is due now (respecting per-channel pacing); returns how many were sent."""
        rows, follows = await self._due()
        sent = 0
        waiting_for_card = {r.follow_id for r in rows if r.kind == "card_post"}
        for row in rows:
            if self._stopping:
                break
            follow = follows.get(row.follow_id) if row.follow_id else None
            if row.kind in POSTS and self._paced(row.channel):
                continue
            if (
                row.kind in ("thread", "alert", "summary")
                and follow is not None
                and not follow.card_ts
                and row.follow_id in waiting_for_card
            ):
                continue  # the reply waits for its card, which is still to be posted
            if await self._deliver(row, follow):
                sent += 1
                if row.kind == "card_post":
                    waiting_for_card.discard(row.follow_id)
        await self._gauge()
        return sent

    async def _due(self) -> tuple[list[OutboxMessage], dict[int, Follow]]:
        now = self.clock()
        async with self.db.session() as session, session.begin():
            rows = list(
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.not_before <= now)
                    .order_by(OutboxMessage.id)
                    .limit(BATCH)
                )
            )
            rows = await self._coalesce_cards(session, rows, now)
            ids = {r.follow_id for r in rows if r.follow_id is not None}
            follows = (
                {f.id: f for f in await session.scalars(select(Follow).where(Follow.id.in_(ids)))}
                if ids
                else {}
            )
        return rows, follows

    async def _coalesce_cards(
        self, session: Any, rows: list[OutboxMessage], now: datetime
    ) -> list[OutboxMessage]:
        """Several pending updates of one card: only the newest is sent (it renders the latest)."""
        newest: dict[int | None, OutboxMessage] = {}
        for row in rows:
            if row.kind == "card":
                newest[row.follow_id] = row
        superseded = [r.id for r in rows if r.kind == "card" and newest[r.follow_id] is not r]
        if superseded:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(superseded))
                .values(delivered_at=now, last_error="superseded")
            )
        dropped = set(superseded)
        return [r for r in rows if r.id not in dropped]

    def _paced(self, channel: str) -> bool:
        return time.monotonic() < self._next_post.get(channel, 0.0)

    # -- one message -------------------------------------------------------------------------

    async def _deliver(self, row: OutboxMessage, follow: Follow | None) -> bool:
        try:
            if row.kind == "card":
                await self._update_card(row, follow)
                await self._mark_delivered(row, None)
            else:
                await self._post_once(row, follow)
            metrics.DELIVERED.labels(row.kind).inc()
            return True
        except SlackApiError as exc:
            await self._slack_failed(row, exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Slack may or may not have the message: keep it in flight, look before resending.
            metrics.DELIVERY_ERRORS.labels(type(exc).__name__).inc()
            await self._retry_later(row, f"{type(exc).__name__}", keep_in_flight=True)
        return False

    async def _post_once(self, row: OutboxMessage, follow: Follow | None) -> None:
        message = await self._render(row, follow)
        if row.in_flight_since is not None:
            found = await self._already_posted(row, message.get("thread_ts"))
            if found is not None:
                log.info("outbox %d was already posted (ts %s): not posting again", row.id, found)
                await self._mark_delivered(row, found, follow)
                return
        await self._mark_in_flight(row)
        self._next_post[row.channel] = time.monotonic() + self.post_interval
        response = await self.slack.chat_postMessage(
            channel=row.channel,
            metadata={"event_type": METADATA_EVENT, "event_payload": {"outbox_id": row.id}},
            **message,
        )
        await self._mark_delivered(row, str(response["ts"]), follow)

    async def _already_posted(self, row: OutboxMessage, thread_ts: str | None) -> str | None:
        """Find the message an earlier attempt may have posted, by its metadata.

        The newest 200 messages (of the thread, or of the channel) are searched; no time window,
        because our clock and Slack's need not agree, and a retry follows the attempt closely.
        """
        try:
            if thread_ts:
                response = await self.slack.conversations_replies(
                    channel=row.channel, ts=thread_ts, include_all_metadata=True, limit=200
                )
            else:
                response = await self.slack.conversations_history(
                    channel=row.channel, include_all_metadata=True, limit=200
                )
        except SlackApiError as exc:
            # Cannot look: posting again risks a duplicate, not posting risks a loss. We post.
            log.warning("could not check history of %s: %s", row.channel, exc.response.get("error"))
            return None
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == METADATA_EVENT and payload.get("outbox_id") == row.id:
                return str(message["ts"])
        return None

    async def _update_card(self, row: OutboxMessage, follow: Follow | None) -> None:
        if follow is None or not follow.card_ts:
            return  # no card (yet): a pending card_post renders the newest state anyway
        run, deleted = self._run_of(follow)
        label = self.providers[follow.provider].label
        await self.slack.chat_update(
            channel=follow.channel,
            ts=follow.card_ts,
            text=blocks.fallback_text(run, label),
            blocks=self._card(follow, run, deleted),
        )

    def _card(self, follow: Follow, run: Run, deleted: bool) -> blocks.Blocks:
        provider = self.providers[follow.provider]
        return blocks.run_card(
            run,
            style=provider.style,
            started_by=follow.started_by,
            deleted=deleted,
        )

    def _run_of(self, follow: Follow) -> tuple[Run, bool]:
        provider = self.providers[follow.provider]
        deleted = follow.announced_status == "DELETED"
        if follow.snapshot:
            return provider.run_from_snapshot(follow.scope, follow.snapshot), deleted
        status = follow.announced_status or "UNKNOWN"
        return Run(
            provider=follow.provider,
            scope=follow.scope,
            id=follow.run_id,
            status=status,
            lifecycle=provider.lifecycle_of(status),
        ), deleted

    async def _render(self, row: OutboxMessage, follow: Follow | None) -> dict[str, Any]:
        """The chat.postMessage arguments for a row (alerts fetch their log lines now)."""
        thread_ts = follow.card_ts if follow is not None and follow.card_ts else None
        if row.kind == "digest":
            payload = row.payload
            return {
                "text": payload["title"],
                "blocks": blocks.digest_blocks(payload["title"], payload["lines"]),
            }
        assert follow is not None, f"outbox row {row.id} ({row.kind}) has no follow"
        run, deleted = self._run_of(follow)
        label = self.providers[follow.provider].label
        if row.kind == "card_post":
            return {
                "text": blocks.fallback_text(run, label),
                "blocks": self._card(follow, run, deleted),
            }
        if row.kind == "thread":
            text = str(row.payload["text"])
            return {"text": text, "blocks": blocks.text_blocks(text), "thread_ts": thread_ts}
        if row.kind == "summary":
            try:
                text = await self.providers[follow.provider].results_summary(run)
            except ProviderError as exc:
                text = f":warning: The results of `{run.id}` could not be read: {exc.user_text()}"
            return {
                "text": blocks.clip(text, 3000),
                "blocks": blocks.text_blocks(text),
                "thread_ts": thread_ts,
            }
        return await self._render_alert(row, follow, run, label, thread_ts)

    async def _render_alert(
        self, row: OutboxMessage, follow: Follow, run: Run, label: str, thread_ts: str | None
    ) -> dict[str, Any]:
        kind = str(row.payload.get("alert", "dead"))
        entries, problem = None, None
        has_logs = self.providers[follow.provider].style.has_logs
        if has_logs and (
            kind == "dead" or run.lifecycle not in (Lifecycle.QUEUED, Lifecycle.UNKNOWN)
        ):
            try:
                entries = await self.providers[follow.provider].tail_logs(run, ALERT_LOG_LINES)
            except ProviderError as exc:
                problem = exc.user_text()
        link = (
            self.log_links.url_for(run.provider, run.scope, run.id)
            if self.log_links and has_logs
            else None
        )
        alert = blocks.alert_blocks(
            run,
            label=label,
            kind=kind,
            waited_seconds=row.payload.get("waited"),
            entries=entries,
            logs_problem=problem,
            link=link,
            has_logs=has_logs,
        )
        message: dict[str, Any] = {
            "text": str(row.payload.get("headline") or run.status),
            "blocks": alert,
        }
        if thread_ts:
            message.update(thread_ts=thread_ts, reply_broadcast=True)
        return message

    # -- bookkeeping -------------------------------------------------------------------------

    async def _mark_in_flight(self, row: OutboxMessage) -> None:
        now = self.clock()
        row.in_flight_since = now
        async with self.db.session() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(in_flight_since=now, attempts=OutboxMessage.attempts + 1)
            )

    async def _mark_delivered(
        self, row: OutboxMessage, ts: str | None, follow: Follow | None = None
    ) -> None:
        async with self.db.session() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(delivered_at=self.clock(), sent_ts=ts)
            )
            if row.kind == "card_post" and follow is not None and ts:
                await session.execute(
                    update(Follow).where(Follow.id == follow.id).values(card_ts=ts)
                )
                follow.card_ts = ts

    async def _slack_failed(self, row: OutboxMessage, exc: SlackApiError) -> None:
        error = str(exc.response.get("error") or exc.response.status_code)
        metrics.DELIVERY_ERRORS.labels(error).inc()
        if exc.response.status_code == 429:
            # Not posted (Slack refused before doing anything): wait as told, nothing in flight.
            retry_after = float(exc.response.headers.get("Retry-After", 1) or 1)
            await self._retry_later(row, "ratelimited", keep_in_flight=False, delay=retry_after)
            return
        if error in PERMANENT:
            log.warning("dropping outbox %d for %s: Slack says %s", row.id, row.channel, error)
            async with self.db.session() as session, session.begin():
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id)
                    .values(delivered_at=self.clock(), last_error=f"dropped: {error}")
                )
            return
        await self._retry_later(row, error, keep_in_flight=exc.response.status_code >= 500)

    async def _retry_later(
        self, row: OutboxMessage, error: str, *, keep_in_flight: bool, delay: float | None = None
    ) -> None:
        wait = delay if delay is not None else min(MAX_BACKOFF_SECONDS, 2.0 ** min(row.attempts, 8))
        values: dict[str, Any] = {
            "not_before": self.clock() + timedelta(seconds=wait),
            "last_error": error[:500],
        }
        if not keep_in_flight:
            values["in_flight_since"] = None
        async with self.db.session() as session, session.begin():
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values)
            )

    async def _gauge(self) -> None:
        async with self.db.session() as session:
            backlog = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.delivered_at.is_(None))
            )
        metrics.OUTBOX_BACKLOG.set(backlog or 0)
