"""Runs as the providers hand them to the builders, for tests of what the bot draws."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.providers.aicore.provider import AICoreProvider
from bot.providers.base import Run
from bot.providers.bria.provider import BriaProvider

# The status rules and words need no client: none is given, so none can be called.
AICORE = AICoreProvider(client=None)  # type: ignore[arg-type]
BRIA = BriaProvider(client=None)  # type: ignore[arg-type]
CREATED = datetime(2026, 11, 24, 10, tzinfo=UTC)


def sample_run(
    status: str = "RUNNING", provider: Any = AICORE, *, title: str = "resnet", **extra: Any
) -> Run:
    """Run ``e0001abc`` of configuration ``cfg1`` in ``default``, in ``status``."""
    return Run(
        provider=provider.name,
        scope="default",
        id="e0001abc",
        status=status,
        lifecycle=provider.lifecycle_of(status),
        title=title,
        target_id="cfg1",
        scenario="training",
        created_at=CREATED,
        **extra,
    )
