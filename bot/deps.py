"""What listeners and jobs are handed: built once in ``bot.app`` and passed down."""

from __future__ import annotations

from dataclasses import dataclass

from bot.access.guard import Guard
from bot.audit import Audit
from bot.catalogue import Catalogue
from bot.direct import DirectMessages
from bot.jobs import JobQueue
from bot.service import Service
from bot.settings import Settings
from bot.store.repo import Store


@dataclass(frozen=True)
class Deps:
    settings: Settings
    service: Service
    store: Store
    jobs: JobQueue
    guard: Guard
    audit: Audit
    catalogue: Catalogue  # configurations for the start form's picker
    direct: DirectMessages
