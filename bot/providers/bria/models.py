"""Typed views of Bria's tailored-generation payloads (projects, datasets, models).

The models are tolerant on purpose: Bria documents three generations of this API, models
uploaded with ``upload_model`` report lower-case statuses (``syncing``, ``completed``), and
timestamps come without a timezone. Unknown fields are kept, unknown status words stay the
string Bria sent, and an unreadable timestamp becomes ``None`` rather than failing a poll.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from bot.providers.aicore.models import parse_timestamp

__all__ = [
    "DATASET_STATUSES",
    "MODEL_STATUSES",
    "STOPPABLE_STATUSES",
    "TERMINAL_STATUSES",
    "TRAINING_MODES",
    "TRAINING_STATUSES",
    "Dataset",
    "Project",
    "TailoredModel",
]

MODEL_STATUSES: Final = ("Created", "InProgress", "Completed", "Failed", "Stopping", "Stopped")
# Not documented as such; read from the status descriptions (reference notes §2).
TERMINAL_STATUSES: Final = frozenset({"Completed", "Failed", "Stopped"})
# Bria refuses to delete these with 409 ("currently in training"); Stopping is included
# because deleting during it is undocumented and waiting for Stopped is always safe.
TRAINING_STATUSES: Final = frozenset({"InProgress", "Stopping"})
STOPPABLE_STATUSES: Final = frozenset({"InProgress"})
DATASET_STATUSES: Final = ("draft", "completed")
TRAINING_MODES: Final = ("fully_automated", "expert")


def _lenient_timestamp(value: Any) -> Any:
    """ISO 8601 with or without zone (naive means UTC); anything unreadable becomes None."""
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def _empty_if_null(value: Any) -> Any:
    # A model that never trained may carry null instead of {} / [].
    return {} if value is None else value


def _checkpoint_steps(value: Any) -> Any:
    # The spec types the steps as strings; ints are what a card wants, other words stay text.
    if value is None:
        return []
    if isinstance(value, list):
        return [int(v) if isinstance(v, str) and v.strip().isdigit() else v for v in value]
    return value


Timestamp = Annotated[datetime | None, BeforeValidator(_lenient_timestamp)]


class BriaModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class Project(BriaModel):
    id: int
    project_name: str | None = None
    project_description: str | None = None
    ip_name: str | None = None
    ip_description: str | None = None
    ip_medium: str | None = None
    ip_type: str | None = None
    # The version family the project is locked to: "fibo", "max" or null while unlocked.
    training_version: str | None = None
    status: str | None = None
    created_at: Timestamp = None


class Dataset(BriaModel):
    id: int
    name: str | None = None
    status: str = "draft"  # draft | completed; other words are kept as sent
    training_version: str | None = None
    project_id: int | None = None
    upload_type: str | None = None
    images_count: int | None = None
    captions_update_status: str | None = None
    created_at: Timestamp = None
    updated_at: Timestamp = None

    @property
    def completed(self) -> bool:
        return self.status.lower() == "completed"


class TailoredModel(BriaModel):
    id: int
    name: str = ""
    description: str | None = None
    status: str = "Created"
    training_mode: str = "fully_automated"  # fully_automated | expert
    training_version: str | None = None
    training_parameters: Annotated[dict[str, Any], BeforeValidator(_empty_if_null)] = Field(
        default_factory=dict
    )
    checkpoint_steps: Annotated[list[int | str], BeforeValidator(_checkpoint_steps)] = Field(
        default_factory=list
    )
    dataset_id: int | None = None
    project_id: int | None = None
    created_at: Timestamp = None
    updated_at: Timestamp = None
    generation_prefix: str | None = None
    active_model_version: str | None = None

    @property
    def expert(self) -> bool:
        return self.training_mode == "expert"
