"""Modals with inputs: the typed-ID confirmation of a protected resource group."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)

from bot.blocks.base import clip, dicts, escape

CALLBACK_PROTECTED = "protected_confirm"
# The confirmation a correct ID makes: a job's action ID, never a button's (no listener takes
# it from Slack), so only the modal can execute a request in a protected resource group.
ACTION_PROTECTED_CONFIRM = "protected_confirm_typed"
TYPED_BLOCK = "typed_id"
TYPED_ACTION = "run_id"


def protected_modal(
    *, scope: str, run_id: str, action: str, label: str, token: str
) -> dict[str, Any]:
    """Asks for the run's ID before a stop or delete in a protected resource group.

    ``private_metadata`` carries only the pending request's token; what the request is lives
    in the database.
    """
    verb = "Stop" if action == "stop" else "Delete"
    intro = (
        f":lock: `{escape(scope)}` is a protected resource group. To {action} "
        f"{label} run `{escape(run_id)}`, type its ID below. Its status is checked then."
    )
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=intro)),
        InputBlock(
            block_id=TYPED_BLOCK,
            label=PlainTextObject(text="The run's ID"),
            element=PlainTextInputElement(
                action_id=TYPED_ACTION,
                placeholder=PlainTextObject(text=clip(run_id, 150)),
                max_length=128,
            ),
        ),
    ]
    return {
        "type": "modal",
        "callback_id": CALLBACK_PROTECTED,
        "private_metadata": json.dumps({"token": token}),
        "title": PlainTextObject(text=f"{verb} a protected run").to_dict(),
        "submit": PlainTextObject(text=verb).to_dict(),
        "close": PlainTextObject(text="Cancel").to_dict(),
        "blocks": dicts(blocks),
    }
