"""The App Home tab: the user's runs and what runs in the followed resource groups, each with
the buttons its card has, and a button that opens the start form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.blocks.base import Style, dicts, escape, slack_date, status_word, target_text
from bot.blocks.cards import card_buttons
from bot.providers.base import Run

ACTION_HOME_START = "home_start"


def home_view(
    *,
    mine: Sequence[Run],
    running: Sequence[Run],
    styles: Mapping[str, Style],
    default_scope: str,
) -> dict[str, Any]:
    blocks: list[Block] = [
        HeaderBlock(text="Your training runs"),
        SectionBlock(
            text=MarkdownTextObject(
                text="Start a run by picking its configuration, or type "
                "`/aicore start <name>` in a channel."
            ),
            accessory=ButtonElement(
                text="Start a run",
                action_id=ACTION_HOME_START,
                value=default_scope,
                style="primary",
            ),
        ),
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text="*Your recent runs*")),
    ]
    blocks += _runs("mine", mine, styles, empty="You have not started a run through the bot yet.")
    blocks += [
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text="*Running in followed resource groups*")),
    ]
    blocks += _runs(
        "running",
        running,
        styles,
        empty="Nothing is running in the resource groups channels subscribe to "
        "(`/aicore subscribe`).",
    )
    return {"type": "home", "blocks": dicts(blocks)}


def _runs(
    section: str, runs: Sequence[Run], styles: Mapping[str, Style], *, empty: str
) -> list[Block]:
    if not runs:
        return [ContextBlock(elements=[MarkdownTextObject(text=empty)])]
    blocks: list[Block] = []
    for run in runs:
        style = styles[run.provider]
        line = (
            f"{status_word(run)}  ·  {style.label} `{run.id}`\n"
            f"{target_text(run)} · `{escape(run.scope)}` · {slack_date(run.created_at)}"
        )
        blocks.append(SectionBlock(text=MarkdownTextObject(text=line)))
        blocks.append(
            ActionsBlock(
                block_id=f"{section}:{run.provider}:{run.scope}:{run.id}"[:255],
                elements=card_buttons(run, style),
            )
        )
    return blocks
