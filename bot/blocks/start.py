"""Starting without IDs: the start modal, its configuration picker's options, and the answer
to a name that names no single configuration.

The modal's blocks, and how a submission reads back (``state.values``)::

    start_scope      input   plain_text_input ``scope``           the resource group
    start_target[.<d>] input external_select ``start_pick_target`` options from
                                                                  block_suggestion; a pick
                                                                  redraws the modal
    param.<d>.<key>  input   plain_text_input ``value``           one per parameter binding of
                                                                  the picked configuration

``<d>`` is a digest of the picked configuration's ID: Slack keeps what was typed in an input
whose block ID stays the same, so a new pick gets new block IDs (and its own values), and a
submission whose parameters belong to another pick is recognised as such. Slack may also send
an input that was filled in by ``views.update`` and left untouched as ``null``: a parameter
sent so keeps its value, and a pick sent so is the one the form was filled in with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    ExternalDataSelectElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)

from bot.blocks.base import clip, dicts, escape
from bot.providers.base import Target

CALLBACK_START = "start_run"
SCOPE_BLOCK = "start_scope"
SCOPE_ACTION = "scope"
TARGET_BLOCK = "start_target"
ACTION_PICK_TARGET = "start_pick_target"
PARAM_PREFIX = "param."
PARAM_ACTION = "value"
# Slack's plain_text_input holds at most 3000 characters (AI Core values up to 5000): longer
# values are shown, not offered for editing, and kept as they are.
EDITABLE_VALUE = 3000
MAX_PARAMETER_INPUTS = 80  # a modal holds 100 blocks
MAX_OPTIONS = 100  # Slack shows at most 100 options
MAX_CANDIDATES = 10


@dataclass(frozen=True)
class StartForm:
    """What the modal was opened for; kept in its ``private_metadata``."""

    scope: str
    channel: str | None  # where the card goes (None: the user's DM with the bot)
    response_url: str | None  # where to answer (the command's or the click's)
    target: str | None = None  # the picked configuration's ID
    digest: str | None = None

    def metadata(self) -> str:
        return json.dumps(
            {
                "scope": self.scope,
                "channel": self.channel,
                "response_url": self.response_url,
                "target": self.target,
                "digest": self.digest,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_metadata(cls, text: Any) -> StartForm | None:
        """The form a view carries; None when its metadata is not one (a forged view)."""
        try:
            data = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("scope"), str):
            return None
        values = {k: data.get(k) for k in ("channel", "response_url", "target", "digest")}
        if not all(v is None or isinstance(v, str) for v in values.values()):
            return None
        return cls(scope=data["scope"], **values)


def target_block(form: StartForm) -> str:
    """The picker's block ID: new once the form is filled in with a pick."""
    return f"{TARGET_BLOCK}.{form.digest}" if form.digest else TARGET_BLOCK


def digest_of(target_id: str) -> str:
    return hashlib.sha256(target_id.encode()).hexdigest()[:8]


def param_block(digest: str, key: str) -> str:
    return f"{PARAM_PREFIX}{digest}.{key}"


def target_option(target: Target) -> Option:
    """``name · scenario · ID`` (the ID shortened where Slack's 75 characters run out)."""
    head = f"{clip(target.name, 40)} · {clip(target.scenario or '—', 16)} · "
    room = 75 - len(head)
    shown = target.id if len(target.id) <= room else target.id[: max(room - 1, 4)] + "…"
    return Option(value=target.id, text=clip(head + shown, 75))


def options_answer(targets: Sequence[Target], *, note: str | None = None) -> dict[str, Any]:
    """The answer to a block_suggestion: at most 100 options; ``note`` as the only option
    when there is something to say instead (no configuration matches, AI Core is slow)."""
    if note is not None:
        return {"options": [Option(value="-", text=clip(note, 75)).to_dict()]}
    return {"options": [target_option(t).to_dict() for t in targets[:MAX_OPTIONS]]}


def start_modal(
    form: StartForm,
    *,
    label: str,
    chosen: Target | None = None,
    loading: bool = False,
    problem: str | None = None,
) -> dict[str, Any]:
    """The start form; with ``chosen``, that configuration's parameters to change."""
    intro = (
        f"Start an {label} run: pick a configuration (type to search by name, scenario or ID). "
        "Change parameters and the bot first makes a copy of the configuration with your "
        "values, then starts that."
    )
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=intro)),
        InputBlock(
            block_id=SCOPE_BLOCK,
            label=PlainTextObject(text="Resource group"),
            element=PlainTextInputElement(
                action_id=SCOPE_ACTION, initial_value=form.scope, max_length=64
            ),
        ),
        InputBlock(
            block_id=target_block(form),
            label=PlainTextObject(text="Configuration"),
            dispatch_action=True,
            element=ExternalDataSelectElement(
                action_id=ACTION_PICK_TARGET,
                placeholder=PlainTextObject(text="Type a name, a scenario or an ID"),
                min_query_length=0,
                initial_option=target_option(chosen) if chosen else None,
            ),
        ),
    ]
    if loading:
        blocks.append(_context(":hourglass_flowing_sand: Reading the configuration…"))
    if problem:
        blocks.append(_context(f":warning: {escape(problem)}"))
    if chosen is not None:
        blocks += _parameters(chosen, form.digest or digest_of(chosen.id))
    view = {
        "type": "modal",
        "callback_id": CALLBACK_START,
        "private_metadata": form.metadata(),
        "title": PlainTextObject(text=f"Start an {label} run"[:24]).to_dict(),
        "submit": PlainTextObject(text="Start").to_dict(),
        "close": PlainTextObject(text="Cancel").to_dict(),
        "blocks": dicts(blocks),
    }
    return view


def _parameters(target: Target, digest: str) -> list[Any]:
    about = (
        f"*{escape(target.name)}* · scenario `{escape(target.scenario or '—')}` · "
        f"executable `{escape(target.executable or '—')}` · ID `{escape(target.id)}`"
    )
    blocks: list[Any] = [_context(about)]
    if target.artifacts:
        bound = ", ".join(f"`{escape(k)}` → `{escape(v)}`" for k, v in target.artifacts)
        blocks.append(_context(clip(f"Input artifacts (kept): {bound}", 3000)))
    if not target.parameters:
        blocks.append(_context("This configuration has no parameters to change."))
        return blocks
    fixed: list[str] = []
    for key, value in target.parameters:
        block_id = param_block(digest, key)
        if (
            len(value) > EDITABLE_VALUE
            or len(block_id) > 255
            or len(blocks) >= MAX_PARAMETER_INPUTS
        ):
            fixed.append(key)
            continue
        blocks.append(
            InputBlock(
                block_id=block_id,
                label=PlainTextObject(text=clip(key, 2000)),
                optional=True,
                element=PlainTextInputElement(
                    action_id=PARAM_ACTION,
                    initial_value=value or None,
                    max_length=EDITABLE_VALUE,
                ),
            )
        )
    if fixed:
        names = ", ".join(f"`{escape(k)}`" for k in fixed)
        blocks.append(_context(clip(f"Kept as they are (too long to edit here): {names}", 3000)))
    return blocks


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, 3000))])


def candidates_text(
    *, label: str, word: str, name: str, scope: str, candidates: Sequence[Target], ambiguous: bool
) -> str:
    """A name that names no single target: the candidates, with their IDs, and no start."""
    quoted = f"`{escape(clip(name, 80))}`"
    if ambiguous:
        head = (
            f"{len(candidates)} {word}s in `{scope}` are named {quoted}, so nothing was started. "
            "Start one by its ID:"
        )
    elif candidates:
        head = (
            f"No {word} in `{scope}` is named {quoted}, so nothing was started. "
            f"{word.capitalize()}s whose names contain it:"
        )
    else:
        return (
            f"No {label} {word} in `{scope}` is named {quoted} or has it in its name, so "
            "nothing was started."
        )
    lines = [
        f"• {escape(clip(t.name, 80))} · `{escape(t.scenario or '—')}` · `{t.id}`"
        for t in candidates[:MAX_CANDIDATES]
    ]
    return "\n".join([head, *lines])
