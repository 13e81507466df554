"""Refusals, the bulk confirmation and the summary of what a bulk action did."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.blocks.base import (
    ACTION_BULK_CANCEL,
    ACTION_BULK_CONFIRM,
    ACTION_STOP_THEN_DELETE,
    Blocks,
    Style,
    danger_button,
    dicts,
    escape,
    run_ref,
    sections,
    titled,
)
from bot.providers.base import Action, Lifecycle, Outcome, Run


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
    return f"{style.label} `{run.id}` is *{escape(run.status)}*: {reason}. Nothing was changed."


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
    lines += [f"• `{run.id}` {escape(run.status)}{titled(run)}" for run in eligible[:40]]
    if len(eligible) > 40:
        lines.append(f"• …and {len(eligible) - 40} more")
    blocks: list[Block] = sections(lines)
    untouched = left_alone(ineligible, missing, folded)
    if untouched:
        blocks += sections(untouched.splitlines())
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


def left_alone(
    ineligible: Sequence[tuple[Run, str]], missing: Sequence[tuple[str, str]], folded: int
) -> str:
    lines = []
    if ineligible:
        lines.append("*Left alone (their status does not allow it):*")
        lines += [f"• `{run.id}` {escape(run.status)}: {why}" for run, why in ineligible[:30]]
        if len(ineligible) > 30:
            lines.append(f"• …and {len(ineligible) - 30} more")
    if missing:
        lines.append("*Not found or not readable:*")
        lines += [f"• `{run_id}`: {escape(why)}" for run_id, why in missing[:30]]
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
    lines += [f"• :white_check_mark: `{o.run_id}`: {escape(o.message)}" for o in done[:40]]
    for o in failed[:40]:
        extra = "".join(
            part
            for part in (
                f" (code {escape(o.code)})" if o.code else "",
                f" requestId `{escape(o.request_id)}`" if o.request_id else "",
            )
        )
        lines.append(f"• :x: `{o.run_id}`: {escape(o.message)}{extra}")
    hidden = max(0, len(done) - 40) + max(0, len(failed) - 40)
    if hidden:
        lines.append(f"• …and {hidden} more")
    blocks: list[Block] = sections(lines)
    untouched = left_alone(ineligible, missing, folded)
    if untouched:
        blocks += sections(untouched.splitlines())
    return dicts(blocks)
