"""What each announcement reads like: outbox messages composed from the rules' verdicts."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot import blocks, cards, triage
from bot.loglinks import LogLinks
from bot.outbox import ChartReply, Direct, Message, Post, Reply
from bot.poll.discovery import Chart, Details
from bot.poll.rules import Announcement, FollowView, Say
from bot.providers.base import Provider, Run


@dataclass(frozen=True)
class Composed:
    message: Message
    digest_line: str | None  # how it reads inside a digest; None: never folded into one
    loud: bool = False
    # A PENDING alert: its run, how long it waited, its status details (several of one
    # resource group in one cycle are told in one message).
    waiting: tuple[Run, float, dict[str, Any] | None] | None = None


def compose(
    announcement: Announcement,
    *,
    follow: FollowView,
    run: Run,
    previous: str | None,
    provider: Provider,
    details: Details,
    log_links: LogLinks | None,
    deleted: bool = False,
) -> Composed:
    label = provider.label
    say = announcement.say
    if say is Say.CARD:
        message = cards.update_card(run, provider, started_by=follow.started_by, deleted=deleted)
        return Composed(message, None)
    if say is Say.TRANSITION:
        text = blocks.transition_text(run, previous, label)
        return Composed(_reply(text), text.split("\n", 1)[0])
    if say is Say.DELETED:
        text = blocks.deleted_text(run.id, label)
        return Composed(_reply(text), text)
    if say is Say.SUMMARY:
        text = details.summaries.get(run.id) or ""
        return Composed(_reply(blocks.clip(text, 3000)), None)
    if say is Say.CHART:
        return Composed(chart_reply(run, details.charts[run.id], label), None)
    return _alert(announcement, run, provider, details, log_links)


def chart_reply(run: Run, chart: Chart, label: str) -> ChartReply:
    return ChartReply(
        text=f":chart_with_upwards_trend: Metrics of `{blocks.escape(run.id)}`: "
        + blocks.clip(chart.caption, 2000),
        png_base64=base64.b64encode(chart.png).decode("ascii"),
        filename=f"{run.id}-metrics.png",
        title=f"{label} run {run.id}: metrics",
    )


def _reply(text: str) -> Reply:
    return Reply(text=text, blocks=blocks.text_blocks(text))


def _alert(
    announcement: Announcement,
    run: Run,
    provider: Provider,
    details: Details,
    log_links: LogLinks | None,
) -> Composed:
    kind = "dead" if announcement.say is Say.DEAD else "pending"
    has_logs = provider.style.has_logs
    if kind == "dead":
        line = f":rotating_light: `{run.id}` is *{run.status}*" + (
            f": {blocks.clip(run.status_message, 200)}" if run.status_message else ""
        )
    else:
        waited = blocks.duration(announcement.waited_seconds or 0)
        line = f":hourglass: `{run.id}` has been *{run.status}* for {waited}"
    link = log_links.url_for(run.provider, run.scope, run.id) if log_links and has_logs else None
    entries = details.logs.get(run.id)
    diagnosis = None
    if kind == "dead":
        diagnosis = triage.classify(
            status_message=run.status_message,
            status_details=_status_details(run),
            log_lines=[e.message for e in entries or ()],
        )
    alert = blocks.alert_blocks(
        run,
        label=provider.label,
        kind=kind,
        waited_seconds=announcement.waited_seconds,
        entries=entries,
        logs_problem=details.logs_problem.get(run.id),
        link=link,
        has_logs=has_logs,
        diagnosis=diagnosis,
        status_details=details.waiting.get(run.id) if kind == "pending" else None,
    )
    waiting = None
    if kind == "pending":
        waiting = (run, announcement.waited_seconds or 0.0, details.waiting.get(run.id))
    reply = Reply(text=line, blocks=alert, broadcast=True)
    return Composed(reply, line, loud=True, waiting=waiting)


def digest(lines: Sequence[str], *, label: str, catch_up: bool) -> Post:
    title = (
        f"*Catch-up: {len(lines)} {label} status changes while I was not watching*"
        if catch_up
        else f"*{len(lines)} {label} status changes*"
    )
    return Post(text=title, blocks=blocks.digest_blocks(title, list(lines)))


def new_run_line(run: Run) -> str:
    return f"{blocks.STATUS_EMOJI[run.lifecycle]} new run `{run.id}` is *{run.status}*"


def direct(alert: Message, *, channel: str) -> Direct:
    """An alert as a DM to the run's starter, pointing at the channel with its card."""
    where = f" Its card is in <#{channel}>." if channel.startswith(("C", "G")) else ""
    intro = blocks.text_blocks(f":wave: A run you started has died.{where}")
    return Direct(text=alert.text, blocks=intro + list(alert.blocks or []))


def _status_details(run: Run) -> dict[str, Any] | None:
    details = run.raw.get("statusDetails")
    return details if isinstance(details, dict) else None


def pending_group(
    waiting: Sequence[tuple[Run, float, dict[str, Any] | None]], *, label: str, scope: str
) -> Post:
    text = f":hourglass: {len(waiting)} {label} runs in {scope} are waiting in PENDING"
    return Post(text=text, blocks=blocks.pending_group_blocks(waiting, label=label, scope=scope))
