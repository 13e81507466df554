"""The answer to ``/aicore audit``: the latest entries of the audit trail, newest first."""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from bot.audit import Result, Shown
from bot.blocks.base import Blocks, clip, dicts, escape, sections, slack_date

RESULT_WORDS = {
    Result.DONE: ":white_check_mark: done",
    Result.REFUSED_POLICY: ":no_entry: refused by the access policy",
    Result.REFUSED_STATUS: ":no_entry_sign: refused by the run's status",
    Result.FAILED: ":x: failed",
}


def audit_line(shown: Shown) -> str:
    entry = shown.entry
    target = f" `{escape(entry.target)}`" if entry.target else ""
    where = f" in <#{entry.channel}>" if entry.channel and entry.channel[:1] in "CG" else ""
    line = (
        f"{slack_date(shown.at)} · <@{entry.user}> *{entry.action}*{target} "
        f"in `{escape(entry.scope)}`{where} — {RESULT_WORDS[entry.result]}"
    )
    if entry.detail:
        line += f": {escape(clip(entry.detail, 200))}"
    if entry.request_id:
        line += f" (requestId `{escape(entry.request_id)}`)"
    return line


def audit_blocks(entries: Sequence[Shown], *, scope: str, target: str | None) -> Blocks:
    about = f"`{escape(target)}` in `{escape(scope)}`" if target else f"`{escape(scope)}`"
    if not entries:
        return dicts(
            [SectionBlock(text=MarkdownTextObject(text=f"The audit trail has nothing on {about}."))]
        )
    heading = SectionBlock(
        text=MarkdownTextObject(text=f"*Audit trail of {about}*: the latest {len(entries)}")
    )
    note = ContextBlock(elements=[MarkdownTextObject(text="Newest first. Only you can see this.")])
    return dicts([heading, *sections([audit_line(shown) for shown in entries]), note])
