"""What the poller announces: transitions, alerts (DEAD, PENDING too long), digests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.blocks.base import (
    ACTION_LOGS,
    MESSAGE_BLOCK_LIMIT,
    SECTION_LIMIT,
    STATUS_EMOJI,
    Blocks,
    chunks,
    clip,
    code_sections,
    dicts,
    duration,
    escape,
    log_text,
    run_ref,
    slack_date,
    titled,
)
from bot.providers.base import LogEntry, Run
from bot.triage import Diagnosis

PENDING_HINT = (
    "AI Core runs as many pods at once as the tenant's pod quota allows (at least 50): more "
    "runs queue in PENDING until others finish, and a support ticket to SAP raises the quota. "
    "A run that waits while little else runs usually misses the docker-registry secret or the "
    "object-store secret `default` of its resource group."
)


def transition_text(run: Run, previous: str | None, label: str) -> str:
    was = f" (was {escape(previous)})" if previous else ""
    text = f"{STATUS_EMOJI[run.lifecycle]} {label} `{run.id}` is now *{escape(run.status)}*{was}"
    if run.status_message:
        text += f"\n> {escape(clip(run.status_message, 500))}"
    return text


def deleted_text(run_id: str, label: str) -> str:
    return f":wastebasket: {label} `{run_id}` no longer exists: it was deleted."


def alert_blocks(
    run: Run,
    *,
    label: str,
    kind: str,
    waited_seconds: float | None = None,
    entries: Sequence[LogEntry] | None = None,
    logs_problem: str | None = None,
    link: str | None = None,
    has_logs: bool = True,
    diagnosis: Diagnosis | None = None,
    status_details: dict[str, Any] | None = None,
) -> Blocks:
    """A loud alert (DEAD, or PENDING/UNKNOWN too long), posted in the thread and broadcast;
    a DEAD one says what most likely killed the run, when the triage knows."""
    if kind == "dead":
        head = f":rotating_light: *{label} run `{run.id}` is {escape(run.status)}*{titled(run)}"
    else:
        head = (
            f":hourglass: *{label} run `{run.id}` has been {escape(run.status)} for "
            f"{duration(waited_seconds or 0)}*{titled(run)}\n{PENDING_HINT}"
        )
    parts: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(head, 3000)))]
    if diagnosis is not None:
        parts += cause_blocks(diagnosis)
    if status_details:
        parts += details_blocks(status_details)
    if run.status_message:
        parts.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=clip(f"*Status message*\n> {escape(run.status_message)}", 3000)
                )
            )
        )
    if entries:
        parts.append(SectionBlock(text=MarkdownTextObject(text=f"*Last {len(entries)} log lines*")))
        parts += code_sections(log_text(entries, budget=6000))
    elif logs_problem:
        parts.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=clip(f"Logs could not be fetched: {escape(logs_problem)}", 3000)
                    )
                ]
            )
        )
    if link:
        parts.append(SectionBlock(text=MarkdownTextObject(text=f"<{link}|Open the full logs>")))
    elif has_logs:
        parts.append(
            ActionsBlock(
                block_id=f"alert:{kind}",
                elements=[ButtonElement(text="Logs", action_id=ACTION_LOGS, value=run_ref(run))],
            )
        )
    return dicts(parts)


SILENT_HINT = (
    "It may hang (a deadlock, a stalled data loader or collective, a wait on a resource) or "
    "just log rarely. Look at its logs; stop it if it hangs."
)


def silent_blocks(run: Run, *, label: str, since: datetime, silent_for: str) -> Blocks:
    """A RUNNING run that stopped writing logs (the stuck check)."""
    head = (
        f":zzz: *{label} run `{run.id}` is RUNNING but has written no log line for "
        f"{silent_for}*{titled(run)}\nNewest line: {slack_date(since)}. {SILENT_HINT}"
    )
    return dicts(
        [
            SectionBlock(text=MarkdownTextObject(text=clip(head, 3000))),
            ActionsBlock(
                block_id="alert:silent",
                elements=[ButtonElement(text="Logs", action_id=ACTION_LOGS, value=run_ref(run))],
            ),
        ]
    )


def details_blocks(status_details: dict[str, Any]) -> list[Block]:
    """AI Core's statusDetails, quoted (why a run waits, in the scheduler's words)."""
    shown = json.dumps(status_details, indent=1, sort_keys=True, default=str)
    return [
        SectionBlock(text=MarkdownTextObject(text="*Status details*")),
        *code_sections(escape(clip(shown, 1500))),
    ]


def pending_group_blocks(
    waiting: Sequence[tuple[Run, float, dict[str, Any] | None]], *, label: str, scope: str
) -> Blocks:
    """One alert for several runs of a resource group waiting at once (run, seconds waited,
    status details)."""
    head = (
        f":hourglass: *{len(waiting)} {label} runs in `{escape(scope)}` are waiting in "
        f"PENDING*\n{PENDING_HINT}"
    )
    lines = []
    for run, waited, details in waiting:
        line = f"• `{run.id}`{titled(run)} · PENDING for {duration(waited)}"
        reason = (details or {}).get("message") or (details or {}).get("reason")
        if isinstance(reason, str) and reason:
            line += f" · _{escape(clip(reason, 200))}_"
        lines.append(line)
    parts: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(head, 3000)))]
    parts += [SectionBlock(text=MarkdownTextObject(text=c)) for c in chunks(lines, SECTION_LIMIT)]
    return dicts(parts[:MESSAGE_BLOCK_LIMIT])


def cause_blocks(diagnosis: Diagnosis) -> list[Block]:
    cause = diagnosis.cause
    evidence = escape(diagnosis.evidence.replace("`", "'"))  # a code span holds no backtick
    return [
        SectionBlock(
            text=MarkdownTextObject(
                text=f"*Likely cause:* {cause.title}\n:bulb: {cause.hint}", verbatim=True
            )
        ),
        ContextBlock(elements=[MarkdownTextObject(text=clip(f"Seen in: `{evidence}`", 3000))]),
    ]


def digest_blocks(title: str, lines: Sequence[str], *, limit: int = 40) -> Blocks:
    shown = list(lines[:limit])
    if len(lines) > limit:
        shown.append(f"…and {len(lines) - limit} more")
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(title, 3000)))]
    for chunk in chunks([f"• {line}" for line in shown], SECTION_LIMIT):
        blocks.append(SectionBlock(text=MarkdownTextObject(text=chunk)))
    return dicts(blocks)
