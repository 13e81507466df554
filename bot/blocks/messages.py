"""Private answers: help, lists of runs, log excerpts and the Logs modal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.blocks.base import (
    STATUS_EMOJI,
    Blocks,
    clip,
    code_sections,
    dicts,
    escape,
    log_text,
    slack_date,
    target_text,
    text_blocks,
)
from bot.providers.base import LogEntry, Run


def help_text(command: str, default_scope: str) -> str:
    if command == "/bria":
        return (
            "*/bria* — Bria tailored-generation training\n"
            "• `/bria train <modelId or name> [steps=N lr=X rank=N scheduler=NAME warmup=N "
            "checkpoint=N]` — start training (parameters only for models in `expert` mode)\n"
            "• `/bria stop <modelId>` · `/bria delete <modelId>` — with a confirmation\n"
            "• `/bria status <modelId>` · `/bria list` — privately\n"
            "• `/bria audit [<modelId>]` — who did what, and when, privately"
        )
    return (
        "*/aicore* — SAP AI Core executions "
        f"(resource group `{default_scope}` unless you add `rg=<group>`)\n"
        "• `/aicore start` — pick a configuration in a form, change parameters if you like, "
        "start it\n"
        "• `/aicore start <configuration name or ID>` — start a run and post its card here\n"
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
        "• `/aicore audit [<executionId>]` — who did what, and when, privately\n"
        "Finished cards offer *Re-run* and *Re-run with changes*; the App Home tab lists your "
        "runs. Stop and delete of several runs ask you to confirm first; delete always does. "
        "What you may do is set by the workspace's access policy."
    )


def list_blocks(
    runs: Sequence[Run], *, label: str, scope: str, status: str | None, limit: int = 20
) -> Blocks:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    heading = f"*{len(runs)} {label} runs* in `{scope}`" + (
        f" with status {status}" if status else ""
    )
    summary = "  ".join(f"{escape(word)}: *{n}*" for word, n in sorted(counts.items())) or "none"
    recent = sorted(runs, key=lambda r: (r.created_at is None, r.created_at), reverse=True)
    recent = [r for r in recent if r.created_at is not None][:limit] or list(runs[:limit])
    lines = [
        f"{STATUS_EMOJI[r.lifecycle]} `{r.id}` *{escape(r.status)}* {target_text(r)} · "
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


def logs_blocks(
    run: Run, entries: Sequence[LogEntry], *, label: str, requested: int, link: str | None = None
) -> Blocks:
    head = f"*Last {len(entries)} log lines* of {label} `{run.id}` ({escape(run.status)})"
    if len(entries) < requested:
        head += f" — {requested} asked, that is all there is"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head))]
    blocks += (
        code_sections(log_text(entries))
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
