"""What listeners and workers are handed: built once in ``bot.app`` and passed down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.service import Service
from bot.settings import Settings
from bot.store.repo import Store
from bot.workloop import Offload, run_here


@dataclass(frozen=True)
class Deps:
    settings: Settings
    service: Service
    store: Store
    # Where after-ack work runs: the work loop in the real process, the same loop in tests.
    offload: Offload[Any] = run_here
