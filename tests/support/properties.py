"""How many cases a property test runs, and what every answer must be: Block Kit that
slack_sdk's models accept."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from hypothesis import settings
from slack_sdk.models.blocks import Block

#: ``.ci/run`` sets this: the property tests then run 10,000 cases in all.
IN_CI = os.environ.get("HYPOTHESIS_PROFILE") == "ci"


def cases(*, ci: int, local: int, **options: Any) -> Callable[[Any], Any]:
    """``settings`` with ``ci`` examples under ``HYPOTHESIS_PROFILE=ci``, else ``local``."""
    return settings(max_examples=ci if IN_CI else local, deadline=None, **options)


def validate_blocks(blocks: Any) -> None:
    """Raise unless ``blocks`` (a list of dicts, or a JSON string of one, or nothing) is
    Block Kit within Slack's limits, as slack_sdk's models check it."""
    if blocks is None:
        return
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    assert isinstance(blocks, list), blocks
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, f"not a block slack_sdk knows: {block}"
        parsed.validate_json()
