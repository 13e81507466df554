"""What every builder shares: limits, action IDs, the provider's style, small formatters."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ConfirmObject,
    MarkdownTextObject,
    SectionBlock,
)

from bot.commands import AI_CORE_ID, BRIA_MODEL_ID, BRIA_SCOPE
from bot.providers.base import Action, Lifecycle, LogEntry, Run

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


ACTION_RERUN = "run_rerun"
ACTION_RERUN_CHANGES = "run_rerun_changes"
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
    has_metrics: bool = True  # a finished run's metric series can be charted
    can_rerun: bool = True  # a finished run's target can start again
    can_change: bool = True  # ... with other parameter values (the start form)


def dicts(blocks: Sequence[Block]) -> Blocks:
    return [block.to_dict() for block in blocks]


def run_ref(run: Run) -> str:
    """What a button carries: just enough to look the run up again (never its state)."""
    return json.dumps({"p": run.provider, "s": run.scope, "r": run.id}, separators=(",", ":"))


def rerun_ref(run: Run) -> str:
    """A Re-run button's value: the run, and the configuration it was started from (the
    form opens with it before the run can be read again: the trigger expires in 3 s)."""
    return json.dumps(
        {"p": run.provider, "s": run.scope, "r": run.id, "t": run.target_id},
        separators=(",", ":"),
    )


def parse_rerun_target(value: str) -> str:
    """The configuration a Re-run button names, checked like a typed ID."""
    target = str(json.loads(value)["t"])
    if not AI_CORE_ID.fullmatch(target):
        raise ValueError("not a configuration this bot drew")
    return target


def parse_run_ref(value: str) -> tuple[str, str, str]:
    """A button's run, checked as strictly as a typed command: a value is Slack's to carry
    and anyone's to tamper with, and its parts go into URL paths and headers."""
    data = json.loads(value)
    provider, scope, run_id = str(data["p"]), str(data["s"]), str(data["r"])
    if provider == "aicore":
        valid = bool(AI_CORE_ID.fullmatch(scope) and AI_CORE_ID.fullmatch(run_id))
    elif provider == "bria":
        valid = scope == BRIA_SCOPE and bool(BRIA_MODEL_ID.fullmatch(run_id))
    else:
        valid = False
    if not valid:
        raise ValueError("not a run this bot drew")
    return provider, scope, run_id


def slack_date(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    epoch = int(moment.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{moment.isoformat(timespec='seconds')}>"


def escape(text: str) -> str:
    """Provider text as mrkdwn shows it literally: Slack's three escapes.

    A run named ``<!channel>`` must not ping the channel from a broadcast alert, nor a
    ``<https://evil|docs>`` in a status message become a link.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def status_word(run: Run) -> str:
    return f"{STATUS_EMOJI[run.lifecycle]} *{escape(run.status)}*"


def fallback_text(run: Run, label: str) -> str:
    return f"{label} {run.id} is {run.status}"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def target_text(run: Run) -> str:
    title, target = escape(run.title or ""), escape(run.target_id or "")
    if title and target:
        return f"{title} (`{target}`)"
    return f"`{target}`" if target else (title or "—")


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


def text_blocks(text: str) -> Blocks:
    return dicts([SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT)))])


def titled(run: Run) -> str:
    return f" · {escape(run.title)}" if run.title else ""


def log_text(entries: Sequence[LogEntry], budget: int = LOG_BUDGET) -> str:
    """The newest lines that fit in ``budget`` characters, oldest first."""
    kept: list[str] = []
    used = 0
    for entry in reversed(entries):
        stamp = entry.timestamp.strftime("%H:%M:%S ") if entry.timestamp else ""
        line = escape(clip(f"{stamp}{entry.message}".replace("```", "'''"), 500))
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join(reversed(kept))


def chunks(lines: Sequence[str], limit: int) -> list[str]:
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
        SectionBlock(text=MarkdownTextObject(text=chunk)) for chunk in chunks(lines, SECTION_LIMIT)
    ]


def code_sections(text: str) -> list[Block]:
    return [_code(chunk) for chunk in chunks(text.splitlines(), SECTION_LIMIT - 10)]


def _code(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=f"```{text}```", verbatim=True))


def duration(seconds: float) -> str:
    """'45 s', '16 min', '2 h 5 min': how long, in words a reader takes in at a glance."""
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
