"""Pure Block Kit builders (slack_sdk models, which enforce Slack's limits on ``to_dict``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.providers.base import Action, Lifecycle, LogEntry, Outcome, Run

SECTION_LIMIT = 3000
MESSAGE_BLOCK_LIMIT = 50
# Several blocks together fail with msg_blocks_too_long near 13k characters, below the
# per-block limits: keep log excerpts well under that.
LOG_BUDGET = 9000

STATUS_EMOJI = {
    Lifecycle.QUEUED: ":hourglass_flowing_sand:",
    Lifecycle.RUNNING: ":arrow_forward:",
    Lifecycle.SUCCEEDED: ":white_check_mark:",
    Lifecycle.FAILED: ":x:",
    Lifecycle.STOPPING: ":double_vertical_bar:",
    Lifecycle.STOPPED: ":black_square_for_stop:",
    Lifecycle.UNKNOWN: ":grey_question:",
}

ACTION_STOP = "run_stop"
ACTION_DELETE = "run_delete"
ACTION_LOGS = "run_logs"
ACTION_REFRESH = "run_refresh"
ACTION_STOP_THEN_DELETE = "run_stop_then_delete"
ACTION_BULK_CONFIRM = "bulk_confirm"
ACTION_BULK_CANCEL = "bulk_cancel"

Blocks = list[dict[str, Any]]


@dataclass(frozen=True)
class Style:
    """How one provider's runs read: its name, its words, and what its statuses allow."""

    label: str  # "AI Core"
    allows: Callable[[str, Action], bool]
    stoppable: tuple[str, ...]  # statuses that allow stop, in the provider's words
    deletable: tuple[str, ...]
    target_word: str = "Configuration"
    scenario_word: str = "Scenario"
    scope_word: str = "Resource group"
    has_logs: bool = True


def dicts(blocks: Sequence[Block]) -> Blocks:
    return [block.to_dict() for block in blocks]


def run_ref(run: Run) -> str:
    """What a button carries: just enough to look the run up again (never its state)."""
    return json.dumps({"p": run.provider, "s": run.scope, "r": run.id}, separators=(",", ":"))


def parse_run_ref(value: str) -> tuple[str, str, str]:
    data = json.loads(value)
    return str(data["p"]), str(data["s"]), str(data["r"])


def slack_date(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{moment.isoformat(timespec='seconds')}>"


def status_word(run: Run) -> str:
    return f"{STATUS_EMOJI[run.lifecycle]} *{run.status}*"


def fallback_text(run: Run, label: str) -> str:
    return f"{label} {run.id} is {run.status}"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_card(
    run: Run,
    *,
    style: Style,
    started_by: str | None = None,
    note: str | None = None,
    deleted: bool = False,
) -> Blocks:
    """The status card: status, what was started, by whom, when, and the allowed buttons."""
    label = style.label
    title = f"{status_word(run)}  ·  {label} `{run.id}`"
    if deleted:
        title = f":wastebasket: *DELETED*  ·  {label} `{run.id}`"
    fields = [
        MarkdownTextObject(text=f"*{style.target_word}*\n{_target(run)}"),
        MarkdownTextObject(text=f"*{style.scenario_word}*\n{run.scenario or '—'}"),
        MarkdownTextObject(text=f"*{style.scope_word}*\n`{run.scope}`"),
        MarkdownTextObject(text=f"*Started by*\n{f'<@{started_by}>' if started_by else '—'}"),
        MarkdownTextObject(text=f"*Created*\n{slack_date(run.created_at)}"),
        MarkdownTextObject(text=f"*Running since*\n{slack_date(run.started_at)}"),
    ]
    if run.completed_at is not None:
        fields.append(MarkdownTextObject(text=f"*Finished*\n{slack_date(run.completed_at)}"))
    for name, value in run.details[: 10 - len(fields)]:
        fields.append(MarkdownTextObject(text=clip(f"*{name}*\n{value}", 2000)))
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=title), fields=fields[:10]),
    ]
    if run.status_message:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=clip(f"> {run.status_message}", 3000)))
        )
    if note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(note, 3000))]))
    if not deleted:
        blocks.append(
            ActionsBlock(block_id=f"card:{run.status}", elements=card_buttons(run, style))
        )
    return dicts(blocks)


def _target(run: Run) -> str:
    if run.title and run.target_id:
        return f"{run.title} (`{run.target_id}`)"
    return f"`{run.target_id}`" if run.target_id else (run.title or "—")


def danger_button(
    text: str, action_id: str, value: str, *, title: str, question: str, confirm: str, deny: str
) -> ButtonElement:
    """A red button behind Slack's own confirmation dialog."""
    return ButtonElement(
        text=text,
        action_id=action_id,
        value=value,
        style="danger",
        confirm=ConfirmObject(
            title=title, text=question, confirm=confirm, deny=deny, style="danger"
        ),
    )


def card_buttons(run: Run, style: Style) -> list[ButtonElement]:
    value = run_ref(run)
    buttons = []
    if style.allows(run.status, "stop"):
        buttons.append(
            danger_button(
                "Stop",
                ACTION_STOP,
                value,
                title="Stop this run?",
                question=f"Stop `{run.id}`? A stopped run cannot be resumed.",
                confirm="Stop it",
                deny="Keep running",
            )
        )
    if style.allows(run.status, "delete"):
        buttons.append(
            danger_button(
                "Delete",
                ACTION_DELETE,
                value,
                title="Delete this run?",
                question=f"Delete `{run.id}` and its record? This cannot be undone.",
                confirm="Delete it",
                deny="Cancel",
            )
        )
    if style.has_logs:
        buttons.append(ButtonElement(text="Logs", action_id=ACTION_LOGS, value=value))
    buttons.append(ButtonElement(text="Refresh", action_id=ACTION_REFRESH, value=value))
    return buttons


# -- plain messages ------------------------------------------------------------------------------


def text_blocks(text: str) -> Blocks:
    return dicts([SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT)))])


def help_text(command: str, default_scope: str) -> str:
    if command == "/bria":
        return (
            "*/bria* — Bria tailored-generation training\n"
            "• `/bria train <modelId> [steps=N lr=X rank=N scheduler=NAME warmup=N checkpoint=N]` "
            "— start training (parameters only for models in `expert` mode)\n"
            "• `/bria stop <modelId>` · `/bria delete <modelId>` — with a confirmation\n"
            "• `/bria status <modelId>` · `/bria list` — privately"
        )
    return (
        "*/aicore* — SAP AI Core executions "
        f"(resource group `{default_scope}` unless you add `rg=<group>`)\n"
        "• `/aicore start <configurationId>` — start a run and post its card here\n"
        "• `/aicore stop <executionId>...` — stop 1 to 100 PENDING/RUNNING runs\n"
        "• `/aicore delete <executionId>...` — delete 1 to 100 "
        "STOPPED/DEAD/UNKNOWN/COMPLETED runs\n"
        "• `/aicore status <executionId>` — the card, privately\n"
        "• `/aicore list [STATUS]` — recent runs with counts by status, privately\n"
        "• `/aicore logs <executionId> [lines=N]` — the last N log lines (default 50)\n"
        "• `/aicore watch <executionId>` — post the card here and follow the run\n"
        "• `/aicore subscribe [scenario=<id>] [only=DEAD,PENDING]` — follow every run of the "
        "resource group here\n"
        "• `/aicore unsubscribe` · `/aicore subscriptions`\n"
        "Stop and delete of several runs ask you to confirm first; delete always does."
    )


def refusal_reason(run: Run, action: Action, style: Style) -> str:
    """Why ``action`` does not apply to ``run`` in its current status."""
    allowed = " or ".join(style.stoppable if action == "stop" else style.deletable)
    if action == "stop":
        if run.lifecycle == Lifecycle.STOPPING:
            return "it is already stopping"
        return f"only {allowed} runs can be stopped"
    if run.lifecycle in (Lifecycle.QUEUED, Lifecycle.RUNNING, Lifecycle.STOPPING):
        return f"stop it first: only {allowed} runs can be deleted"
    return f"only {allowed} runs can be deleted"


def refusal_text(run: Run, action: Action, style: Style) -> str:
    reason = refusal_reason(run, action, style)
    return f"{style.label} `{run.id}` is *{run.status}*: {reason}. Nothing was changed."


def stop_then_delete_offer(run: Run, style: Style) -> Blocks:
    """A refused delete of a live run, with the way forward: stop it, delete it once stopped."""
    button = danger_button(
        "Stop, then delete",
        ACTION_STOP_THEN_DELETE,
        run_ref(run),
        title="Stop, then delete?",
        question=f"Stop `{run.id}` now and delete it as soon as it has stopped?",
        confirm="Stop and delete",
        deny="Cancel",
    )
    return dicts(
        [
            SectionBlock(
                text=MarkdownTextObject(text=f":warning: {refusal_text(run, 'delete', style)}")
            ),
            ActionsBlock(block_id="stop_then_delete", elements=[button]),
        ]
    )


def confirmation_blocks(
    *,
    action: Action,
    label: str,
    eligible: Sequence[Run],
    ineligible: Sequence[tuple[Run, str]],
    missing: Sequence[tuple[str, str]],
    token: str,
    folded: int = 0,
) -> Blocks:
    verb = "Stop" if action == "stop" else "Delete"
    lines = [f"*{verb} {len(eligible)} {label} run{'s' if len(eligible) != 1 else ''}?*"]
    lines += [f"• `{run.id}` {run.status}{_titled(run)}" for run in eligible[:40]]
    if len(eligible) > 40:
        lines.append(f"• …and {len(eligible) - 40} more")
    blocks: list[Block] = sections(lines)
    left_alone = _left_alone(ineligible, missing, folded)
    if left_alone:
        blocks += sections(left_alone.splitlines())
    blocks.append(
        ActionsBlock(
            block_id="bulk",
            elements=[
                ButtonElement(
                    text=f"Confirm: {verb.lower()} {len(eligible)}",
                    action_id=ACTION_BULK_CONFIRM,
                    value=token,
                    style="danger",
                ),
                ButtonElement(text="Cancel", action_id=ACTION_BULK_CANCEL, value=token),
            ],
        )
    )
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Each run's status is checked again when you confirm. "
                    "This request expires "
                    "in 15 minutes."
                )
            ]
        )
    )
    return dicts(blocks)


def _titled(run: Run) -> str:
    return f" · {run.title}" if run.title else ""


def _left_alone(
    ineligible: Sequence[tuple[Run, str]], missing: Sequence[tuple[str, str]], folded: int
) -> str:
    lines = []
    if ineligible:
        lines.append("*Left alone (their status does not allow it):*")
        lines += [f"• `{run.id}` {run.status}: {why}" for run, why in ineligible[:30]]
        if len(ineligible) > 30:
            lines.append(f"• …and {len(ineligible) - 30} more")
    if missing:
        lines.append("*Not found or not readable:*")
        lines += [f"• `{run_id}`: {why}" for run_id, why in missing[:30]]
        if len(missing) > 30:
            lines.append(f"• …and {len(missing) - 30} more")
    if folded:
        lines.append(f"_{folded} repeated ID{'s' if folded != 1 else ''} counted once._")
    return "\n".join(lines)


def outcome_blocks(
    *,
    action: Action,
    label: str,
    user_id: str,
    outcomes: Sequence[Outcome],
    ineligible: Sequence[tuple[Run, str]] = (),
    missing: Sequence[tuple[str, str]] = (),
    folded: int = 0,
) -> Blocks:
    verb = "stop" if action == "stop" else "delete"
    done = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    lines = [
        f"*<@{user_id}> asked to {verb} {len(outcomes)} {label} run"
        f"{'s' if len(outcomes) != 1 else ''}: {len(done)} accepted, {len(failed)} refused.*"
    ]
    lines += [f"• :white_check_mark: `{o.run_id}`: {o.message}" for o in done[:40]]
    for o in failed[:40]:
        extra = "".join(
            part
            for part in (
                f" (code {o.code})" if o.code else "",
                f" requestId `{o.request_id}`" if o.request_id else "",
            )
        )
        lines.append(f"• :x: `{o.run_id}`: {o.message}{extra}")
    hidden = max(0, len(done) - 40) + max(0, len(failed) - 40)
    if hidden:
        lines.append(f"• …and {hidden} more")
    blocks: list[Block] = sections(lines)
    left_alone = _left_alone(ineligible, missing, folded)
    if left_alone:
        blocks += sections(left_alone.splitlines())
    return dicts(blocks)


def list_blocks(
    runs: Sequence[Run], *, label: str, scope: str, status: str | None, limit: int = 20
) -> Blocks:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    heading = f"*{len(runs)} {label} runs* in `{scope}`" + (
        f" with status {status}" if status else ""
    )
    summary = "  ".join(f"{word}: *{n}*" for word, n in sorted(counts.items())) or "none"
    recent = sorted(runs, key=lambda r: (r.created_at is None, r.created_at), reverse=True)
    recent = [r for r in recent if r.created_at is not None][:limit] or list(runs[:limit])
    lines = [
        f"{STATUS_EMOJI[r.lifecycle]} `{r.id}` *{r.status}* {_target(r)} · "
        f"{slack_date(r.created_at)}"
        for r in recent
    ]
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=f"{heading}\n{summary}")),
    ]
    if lines:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=clip(f"*Most recent {len(lines)}:*\n" + "\n".join(lines), 3000)
                )
            )
        )
    return dicts(blocks)


def log_text(entries: Sequence[LogEntry], budget: int = LOG_BUDGET) -> str:
    """The newest lines that fit in ``budget`` characters, oldest first."""
    kept: list[str] = []
    used = 0
    for entry in reversed(entries):
        stamp = entry.timestamp.strftime("%H:%M:%S ") if entry.timestamp else ""
        line = clip(f"{stamp}{entry.message}".replace("```", "'''"), 500)
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(reversed(kept))


def logs_blocks(
    run: Run, entries: Sequence[LogEntry], *, label: str, requested: int, link: str | None = None
) -> Blocks:
    head = f"*Last {len(entries)} log lines* of {label} `{run.id}` ({run.status})"
    if len(entries) < requested:
        head += f" — {requested} asked, that is all there is"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head))]
    blocks += (
        _code_sections(log_text(entries))
        if entries
        else [
            SectionBlock(
                text=MarkdownTextObject(
                    text="_No log lines yet: logs appear once the run has started._"
                )
            )
        ]
    )
    if link:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"<{link}|Full logs>")]))
    return dicts(blocks)


def _chunks(lines: Sequence[str], limit: int) -> list[str]:
    """Join lines into texts of at most ``limit`` characters (a single longer line is cut)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in (clip(line, limit) for line in lines):
        if current and size + len(line) + 1 > limit:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        chunks.append("\n".join(current))
    return chunks


def sections(lines: Sequence[str]) -> list[Block]:
    """Lines as as many sections as Slack's 3000-character limit needs (nothing clipped)."""
    return [
        SectionBlock(text=MarkdownTextObject(text=chunk)) for chunk in _chunks(lines, SECTION_LIMIT)
    ]


def _code_sections(text: str) -> list[Block]:
    return [_code(chunk) for chunk in _chunks(text.splitlines(), SECTION_LIMIT - 10)]


def _code(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=f"```{text}```", verbatim=True))


def logs_modal(
    run: Run,
    entries: Sequence[LogEntry] | None,
    *,
    label: str,
    link: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The Logs button's modal: a loading view first (trigger_id expires in 3 s), then lines."""
    if error:
        blocks = text_blocks(f":warning: {error}")
    elif entries is None:
        blocks = text_blocks(f":hourglass_flowing_sand: Fetching the logs of `{run.id}`…")
    else:
        blocks = logs_blocks(run, entries, label=label, requested=len(entries), link=link)
    return {
        "type": "modal",
        "title": PlainTextObject(text=clip(f"Logs {run.id}", 24)).to_dict(),
        "close": PlainTextObject(text="Close").to_dict(),
        "blocks": blocks,
    }


# -- what the poller announces -------------------------------------------------------------------

PENDING_HINT = (
    "Runs stuck in PENDING or UNKNOWN usually miss the object-store secret `default` or the "
    "docker-registry secret of the resource group."
)


def duration(seconds: float) -> str:
    """'45 s', '16 min', '2 h 5 min': how long, in words a reader takes in at a glance."""
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def transition_text(run: Run, previous: str | None, label: str) -> str:
    was = f" (was {previous})" if previous else ""
    text = f"{STATUS_EMOJI[run.lifecycle]} {label} `{run.id}` is now *{run.status}*{was}"
    if run.status_message:
        text += f"\n> {clip(run.status_message, 500)}"
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
) -> Blocks:
    """A loud alert (DEAD, or PENDING/UNKNOWN too long), posted in the thread and broadcast."""
    if kind == "dead":
        head = f":rotating_light: *{label} run `{run.id}` is {run.status}*{_titled(run)}"
    else:
        head = (
            f":hourglass: *{label} run `{run.id}` has been {run.status} for "
            f"{duration(waited_seconds or 0)}*{_titled(run)}\n{PENDING_HINT}"
        )
    parts: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(head, 3000)))]
    if run.status_message:
        parts.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=clip(f"*Status message*\n> {run.status_message}", 3000)
                )
            )
        )
    if entries:
        parts.append(SectionBlock(text=MarkdownTextObject(text=f"*Last {len(entries)} log lines*")))
        parts += _code_sections(log_text(entries, budget=6000))
    elif logs_problem:
        parts.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=clip(f"Logs could not be fetched: {logs_problem}", 3000)
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


def digest_blocks(title: str, lines: Sequence[str], *, limit: int = 40) -> Blocks:
    shown = list(lines[:limit])
    if len(lines) > limit:
        shown.append(f"…and {len(lines) - limit} more")
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(title, 3000)))]
    for chunk in _chunks([f"• {line}" for line in shown], SECTION_LIMIT):
        blocks.append(SectionBlock(text=MarkdownTextObject(text=chunk)))
    return dicts(blocks)
