"""The status rules: what a channel must be told when a followed run is seen again.

Pure functions, no I/O: given what a follow last announced and what this cycle saw of its run,
they say what changes and what to announce. :mod:`bot.poll.discovery` supplies the
observations, :mod:`bot.poll.writer` composes and stores the announcements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.providers.base import Lifecycle, Run

# A run that a command just started may not be visible to a GET yet; give it this long.
NEW_RUN_GRACE = timedelta(seconds=120)
# Runs created this long before a subscription (or a sweep's window) still count (clock skew).
CLOCK_SKEW = timedelta(seconds=60)
ALERT_FILTERS = frozenset({"DEAD", "PENDING"})


class Gone:
    """A GET answered 404: the run no longer exists (it was deleted)."""

    def __repr__(self) -> str:
        return "GONE"


GONE = Gone()
Seen = Run | Gone  # what a cycle learned of a followed run; absent when it learned nothing


@dataclass(frozen=True)
class FollowView:
    """What the rules need to know of a follow (a copy of its row)."""

    id: int
    run_id: str
    version: int
    channel: str
    origin: str  # start | watch | subscription | alerts
    started_by: str | None
    announced_status: str | None
    status_since: datetime | None
    pending_alerted: bool
    delete_when_stopped_by: str | None
    created_at: datetime
    only: frozenset[str] | None = None  # for alerts-only follows: which alerts the channel wants

    @property
    def has_card(self) -> bool:
        return self.origin != "alerts"

    def wants(self, alert: str) -> bool:
        return self.only is None or alert in self.only


class Say(StrEnum):
    CARD = "card"  # redraw the card
    TRANSITION = "transition"  # "is now RUNNING (was PENDING)" in the thread
    DEAD = "dead"  # the loud alert
    PENDING = "pending"  # queued (or unknown) too long
    SUMMARY = "summary"  # a finished run's results (prompt optimization)
    CHART = "chart"  # a finished run's metric series, drawn (when it logged any)
    DELETED = "deleted"  # the run no longer exists


@dataclass(frozen=True)
class Announcement:
    say: Say
    waited_seconds: float | None = None  # PENDING alerts: for how long


@dataclass
class Verdict:
    """The outcome for one follow: its new state and what to announce."""

    follow: FollowView
    run: Run | None  # the run as now known; None when gone
    previous_status: str | None
    status: str | None  # the status to store
    status_since: datetime | None
    pending_alerted: bool
    finished: bool
    changed: bool  # the announced status moved (the follow's snapshot is refreshed)
    announcements: list[Announcement] = field(default_factory=list)
    delete_now: bool = False  # marked "stop, then delete" and the run has ended


def pending_alert_due(follow: FollowView, run: Run, now: datetime, threshold: float) -> bool:
    """Whether a run waiting in QUEUED or UNKNOWN has waited long enough for its one alert."""
    if run.lifecycle not in (Lifecycle.QUEUED, Lifecycle.UNKNOWN) or not follow.wants("PENDING"):
        return False
    changed = run.status != follow.announced_status
    if follow.pending_alerted and not changed:
        return False
    since = (run.modified_at or now) if changed else (follow.status_since or now)
    return (now - since).total_seconds() >= threshold


def judge(
    follow: FollowView,
    seen: Seen,
    *,
    now: datetime,
    pending_alert_seconds: float,
    has_results: bool,
    has_metrics: bool = False,
) -> Verdict | None:
    """What ``seen`` means for ``follow``; None when there is nothing to change."""
    if isinstance(seen, Gone):
        if now - follow.created_at < NEW_RUN_GRACE:
            return None
        verdict = _verdict(follow, None, "DELETED", follow.status_since, finished=True)
        if follow.has_card:
            verdict.announcements += [Announcement(Say.CARD), Announcement(Say.DELETED)]
        return verdict
    run = seen
    changed = run.status != follow.announced_status
    since = (run.modified_at or now) if changed else follow.status_since
    verdict = _verdict(follow, run, run.status, since, finished=False)
    verdict.changed = changed
    verdict.pending_alerted = follow.pending_alerted and not changed
    if changed:
        if follow.has_card:
            verdict.announcements.append(Announcement(Say.CARD))
        if run.lifecycle == Lifecycle.FAILED:
            if follow.wants("DEAD"):
                verdict.announcements.append(Announcement(Say.DEAD))
        elif follow.has_card:
            verdict.announcements.append(Announcement(Say.TRANSITION))
        if follow.has_card and has_results:
            verdict.announcements.append(Announcement(Say.SUMMARY))
        if follow.has_card and has_metrics and run.lifecycle.terminal:
            # Whether it logged any is learnt after the verdict (one metrics call).
            verdict.announcements.append(Announcement(Say.CHART))
    if pending_alert_due(follow, run, now, pending_alert_seconds):
        waited = (now - (since or now)).total_seconds()
        verdict.announcements.append(Announcement(Say.PENDING, waited_seconds=waited))
        verdict.pending_alerted = True
    if run.lifecycle.terminal:
        if follow.delete_when_stopped_by:
            verdict.delete_now = True  # the follow stays open until the deletion is done
        else:
            verdict.finished = True
    if not changed and not verdict.announcements and not verdict.finished:
        return None if not verdict.delete_now else verdict
    return verdict


def _verdict(
    follow: FollowView,
    run: Run | None,
    status: str,
    since: datetime | None,
    *,
    finished: bool,
) -> Verdict:
    return Verdict(
        follow=follow,
        run=run,
        previous_status=follow.announced_status,
        status=status,
        status_since=since,
        pending_alerted=follow.pending_alerted,
        finished=finished,
        changed=status != follow.announced_status,
    )


def adopt(run: Run, *, alerts_only: frozenset[str] | None) -> list[Announcement]:
    """A run new to a subscribed channel: its card (or, alerts only, a DEAD alert if dead)."""
    found: list[Announcement] = []
    if alerts_only is None:
        found.append(Announcement(Say.CARD))
    if run.lifecycle == Lifecycle.FAILED and (alerts_only is None or "DEAD" in alerts_only):
        found.append(Announcement(Say.DEAD))
    return found


def alert_filter(only: str | None) -> frozenset[str]:
    """A subscription's ``only=`` as a set; an empty filter means both alerts."""
    return frozenset((only or "DEAD,PENDING").split(",")) & ALERT_FILTERS
