"""The status card of a run and its buttons."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.blocks.base import (
    ACTION_DELETE,
    ACTION_LOGS,
    ACTION_REFRESH,
    ACTION_RERUN,
    ACTION_RERUN_CHANGES,
    ACTION_STOP,
    Blocks,
    Style,
    clip,
    danger_button,
    dicts,
    escape,
    rerun_ref,
    run_ref,
    slack_date,
    status_word,
    target_text,
)
from bot.providers.base import Run


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
        MarkdownTextObject(text=f"*{style.target_word}*\n{target_text(run)}"),
        MarkdownTextObject(text=f"*{style.scenario_word}*\n{escape(run.scenario or '—')}"),
        MarkdownTextObject(text=f"*{style.scope_word}*\n`{run.scope}`"),
        MarkdownTextObject(text=f"*Started by*\n{f'<@{started_by}>' if started_by else '—'}"),
        MarkdownTextObject(text=f"*Created*\n{slack_date(run.created_at)}"),
        MarkdownTextObject(text=f"*Running since*\n{slack_date(run.started_at)}"),
    ]
    if run.completed_at is not None:
        fields.append(MarkdownTextObject(text=f"*Finished*\n{slack_date(run.completed_at)}"))
    for name, value in run.details[: 10 - len(fields)]:
        fields.append(MarkdownTextObject(text=clip(f"*{name}*\n{escape(value)}", 2000)))
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=title), fields=fields[:10]),
    ]
    if run.status_message:
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=clip(f"> {escape(run.status_message)}", 3000))
            )
        )
    if note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(note, 3000))]))
    if not deleted:
        blocks.append(
            ActionsBlock(block_id=f"card:{run.status}", elements=card_buttons(run, style))
        )
    return dicts(blocks)


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
    return buttons + rerun_buttons(run, style)


def rerun_buttons(run: Run, style: Style) -> list[ButtonElement]:
    """Re-run (behind a confirm dialog) and Re-run with changes, on a finished run's card."""
    if not (run.lifecycle.terminal and style.can_rerun and run.target_id):
        return []
    value = rerun_ref(run)
    what = f"`{escape(run.title)}` (`{run.target_id}`)" if run.title else f"`{run.target_id}`"
    buttons = [
        ButtonElement(
            text="Re-run",
            action_id=ACTION_RERUN,
            value=value,
            confirm=ConfirmObject(
                title="Run it again?",
                text=clip(
                    f"Start {what} again in `{run.scope}`? The new run gets its own card.", 300
                ),
                confirm="Re-run",
                deny="Cancel",
            ),
        )
    ]
    if style.can_change:
        buttons.append(
            ButtonElement(text="Re-run with changes", action_id=ACTION_RERUN_CHANGES, value=value)
        )
    return buttons
