"""Discovery: what a poll cycle learns of one scope from its provider. All its calls are here.

A cycle costs what the *active* runs cost, not the scope's history:

1. One listing of the statuses where runs appear and wait (:meth:`Provider.list_active`;
   for AI Core ``$select=status``, one call per status).
2. A GET for each followed run that the listing cannot settle: it left the listed statuses
   (finished, stopping, or gone: only a 404 says *gone*, never an absence from a list), or its
   status changed and the listing's record is too thin for a card, or its PENDING alert is due.
3. For subscriptions, a GET for each run new to the listing. A run born and finished between
   two cycles never shows in an active listing, so the scope's total count is checked against
   what the listings explain; when it does not add up (and every ``SWEEP_SECONDS`` anyway), a
   *sweep* lists every run created since the last sweep.
4. After the rules have spoken, the details an announcement carries: the last log lines of a
   run that died, a finished run's results. Delivery never calls a provider.

A provider error leaves the scope's state as it was: the next cycle compares again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot import charts
from bot.errors import NotFoundError, ProviderError
from bot.poll.rules import CLOCK_SKEW, GONE, FollowView, Seen, pending_alert_due
from bot.providers.base import Listing, LogEntry, MetricSeries, Provider, Run

log = logging.getLogger(__name__)

GET_CONCURRENCY = 8
SWEEP_SECONDS = 600.0
ALERT_LOG_LINES = 20


@dataclass(frozen=True)
class Memory:
    """What the previous cycles left about the scope (``poll_scopes``)."""

    active_ids: frozenset[str] | None = None
    total: int | None = None
    last_ok_at: datetime | None = None
    swept_at: datetime | None = None
    failures: int = 0


@dataclass
class Look:
    """What one cycle learned."""

    seen: dict[str, Seen] = field(default_factory=dict)  # followed run id -> what it is now
    new_runs: list[Run] = field(default_factory=list)  # candidates for subscriptions
    active_ids: list[str] = field(default_factory=list)  # what the next cycle compares with
    total: int | None = None
    swept: bool = False


@dataclass(frozen=True)
class Subscribers:
    """The scope's subscriptions, as discovery needs them."""

    since: datetime  # the oldest subscription's creation
    # run ids -> those some subscribed channel does not follow yet (a database lookup)
    unfollowed: Callable[[Iterable[str]], Awaitable[set[str]]]


async def look(
    provider: Provider,
    scope: str,
    *,
    followed: Mapping[str, Sequence[FollowView]],
    subscribers: Subscribers | None,
    memory: Memory,
    now: datetime,
    pending_alert_seconds: float,
) -> Look:
    listing = await provider.list_active(scope, with_total=subscribers is not None)
    result = Look(total=listing.total)
    to_get: set[str] = set()
    for run_id, views in followed.items():
        listed = listing.runs.get(run_id)
        if listed is None:
            to_get.add(run_id)
        elif any(_unsettled(view, listed, now, pending_alert_seconds) for view in views):
            if listing.full:
                result.seen[run_id] = listed
            else:
                to_get.add(run_id)
    candidates: set[str] = set()
    if subscribers is not None:
        candidates = await _candidates(listing, subscribers, memory)
    fetched = await _get_all(provider, scope, to_get | candidates, listing)
    for run_id in to_get:
        if run_id in fetched:
            result.seen[run_id] = fetched[run_id]
    unreadable = {c for c in candidates if c not in fetched}
    result.new_runs = [run for c in sorted(candidates) if isinstance(run := fetched.get(c), Run)]
    result.active_ids = sorted(set(listing.runs) - unreadable)
    if subscribers is not None and not listing.complete:
        gone = sum(1 for seen in result.seen.values() if seen is GONE)
        if _needs_sweep(memory, listing, result, gone, now):
            result.new_runs += await _sweep(provider, scope, subscribers, memory, listing, result)
            result.swept = True
    return result


def _unsettled(view: FollowView, listed: Run, now: datetime, threshold: float) -> bool:
    return listed.status != view.announced_status or pending_alert_due(view, listed, now, threshold)


async def _candidates(listing: Listing, subscribers: Subscribers, memory: Memory) -> set[str]:
    """Runs new to the listing, created after the subscriptions, not yet followed everywhere."""
    earliest = subscribers.since - CLOCK_SKEW
    new = [
        run
        for run_id, run in listing.runs.items()
        if (memory.active_ids is None or run_id not in memory.active_ids)
        and (run.created_at is None or run.created_at >= earliest)
    ]
    if not new:
        return set()
    return await subscribers.unfollowed(run.id for run in new)


def _needs_sweep(memory: Memory, listing: Listing, result: Look, gone: int, now: datetime) -> bool:
    if listing.total is None:
        return False
    if memory.total is None or memory.swept_at is None:
        return True  # nothing to compare with yet: look once
    if (now - memory.swept_at).total_seconds() >= SWEEP_SECONDS:
        return True
    since = (memory.last_ok_at or now) - CLOCK_SKEW
    appeared = [
        run
        for run_id, run in listing.runs.items()
        if memory.active_ids is not None
        and run_id not in memory.active_ids
        and (run.created_at is None or run.created_at >= since)
    ]
    expected = memory.total + len(appeared) - gone
    if listing.total != expected:
        log.info(
            "scope count is %d where the listings explain %d: sweeping for runs that came and "
            "went between two cycles",
            listing.total,
            expected,
        )
        return True
    return False


async def _sweep(
    provider: Provider,
    scope: str,
    subscribers: Subscribers,
    memory: Memory,
    listing: Listing,
    result: Look,
) -> list[Run]:
    since = max(subscribers.since, memory.swept_at or subscribers.since) - CLOCK_SKEW
    created = await provider.list_created_since(scope, since)
    already = set(listing.runs) | {run.id for run in result.new_runs}
    fresh = [run.id for run in created if run.id not in already]
    unfollowed = await subscribers.unfollowed(fresh) if fresh else set()
    fetched = await _get_all(provider, scope, unfollowed, listing)
    return [run for run_id in sorted(unfollowed) if isinstance(run := fetched.get(run_id), Run)]


async def _get_all(
    provider: Provider, scope: str, run_ids: Iterable[str], listing: Listing
) -> dict[str, Seen]:
    """Whole records by GET (404: ``GONE``); a run whose GET failed is left out."""
    gate = asyncio.Semaphore(GET_CONCURRENCY)

    async def one(run_id: str) -> tuple[str, Seen | None]:
        if listing.full and run_id in listing.runs:
            return run_id, listing.runs[run_id]
        async with gate:
            try:
                return run_id, await provider.get(scope, run_id)
            except NotFoundError:
                return run_id, GONE
            except ProviderError as exc:
                log.warning("could not read %s/%s/%s: %s", provider.name, scope, run_id, exc)
                return run_id, None

    found = await asyncio.gather(*(one(run_id) for run_id in sorted(set(run_ids))))
    return {run_id: seen for run_id, seen in found if seen is not None}


# -- details for announcements ---------------------------------------------------------------


@dataclass
class Details:
    """What announcements carry besides the run: log lines (or why not), results."""

    logs: dict[str, list[LogEntry]] = field(default_factory=dict)
    logs_problem: dict[str, str] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)
    # The status details of runs about to be alerted as waiting (a listing carries none).
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The metric chart of runs that ended, when they logged a series (PNG, and its caption).
    charts: dict[str, Chart] = field(default_factory=dict)


@dataclass(frozen=True)
class Chart:
    png: bytes
    caption: str


async def details(
    provider: Provider,
    *,
    dying: Sequence[Run],
    finished_with_results: Sequence[Run],
    waiting: Sequence[Run] = (),
    ended: Sequence[Run] = (),
) -> Details:
    found = Details()
    gate = asyncio.Semaphore(GET_CONCURRENCY)

    async def details_of(run: Run) -> None:
        async with gate:
            try:
                whole = await provider.get(run.scope, run.id)
            except ProviderError:
                return  # the alert goes out without them
            status_details = whole.raw.get("statusDetails")
            if isinstance(status_details, dict) and status_details:
                found.waiting[run.id] = status_details

    async def logs_of(run: Run) -> None:
        async with gate:
            try:
                found.logs[run.id] = await provider.tail_logs(run, ALERT_LOG_LINES)
            except ProviderError as exc:
                found.logs_problem[run.id] = exc.user_text()

    async def summary_of(run: Run) -> None:
        async with gate:
            try:
                found.summaries[run.id] = await provider.results_summary(run)
            except ProviderError as exc:
                found.summaries[run.id] = (
                    f":warning: The results of `{run.id}` could not be read: {exc.user_text()}"
                )

    async def chart_of(run: Run) -> None:
        async with gate:
            try:
                series = await provider.metric_series(run)
            except ProviderError as exc:
                # No chart is better than a late cycle; the log page still draws it.
                log.warning("metrics of %s/%s unreadable: %s", run.scope, run.id, exc)
                return
        found_chart = await draw(run, series, label=provider.label)
        if found_chart is not None:
            found.charts[run.id] = found_chart

    tasks = [logs_of(run) for run in dying if provider.style.has_logs]
    tasks += [chart_of(run) for run in ended if provider.style.has_metrics]
    tasks += [summary_of(run) for run in finished_with_results]
    tasks += [details_of(run) for run in waiting]
    await asyncio.gather(*tasks)
    return found


async def draw(run: Run, series: MetricSeries, *, label: str) -> Chart | None:
    """The run's chart, drawn in a worker thread; None unless some metric has two points or
    more (a run that logged only final scores has nothing to draw)."""
    if not any(len(points) >= 2 for points in series.values()):
        return None
    title = f"{label} run {run.id}: {run.status}"
    try:
        png = await asyncio.to_thread(charts.render_png, series, title=title)
    except (ValueError, ArithmeticError):
        # Values matplotlib cannot lay out (an axis from -1e308 to 1e308): the run goes
        # without a chart; the cycle, and its other announcements, go on.
        log.exception("could not draw the metrics of %s/%s", run.scope, run.id)
        return None
    return Chart(png=png, caption=charts.caption(series))


def unchanged(memory: Memory, look: Look) -> bool:
    """Whether the cycle learned nothing the scope's memory lacks, but the time of the poll."""
    return (
        memory.failures == 0
        and not look.swept
        and memory.active_ids is not None
        and memory.active_ids == frozenset(look.active_ids)
        and (look.total is None or look.total == memory.total)
    )


def remembered(memory: Memory, look: Look, now: datetime) -> dict[str, object]:
    """The ``poll_scopes`` values after a successful cycle."""
    return {
        "active": {"ids": look.active_ids},
        "total": look.total if look.total is not None else memory.total,
        "last_ok_at": now,
        "swept_at": now if look.swept else memory.swept_at,
    }
