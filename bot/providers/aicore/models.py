"""Typed views of AI API payloads.

The models accept unknown fields and unknown status values: a new status on SAP's side must
show up on a card as the word SAP sent, not crash the poller.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

EXECUTION_STATUSES = ("PENDING", "RUNNING", "COMPLETED", "DEAD", "STOPPING", "STOPPED", "UNKNOWN")
TERMINAL_STATUSES = frozenset({"COMPLETED", "DEAD", "STOPPED"})
STOPPABLE = ("PENDING", "RUNNING")
# The single-delete page allows COMPLETED too; the bulk page omits it (reference notes §2.3).
# We follow the single-delete page, and the bulk path reads per-item results anyway.
DELETABLE = ("STOPPED", "DEAD", "UNKNOWN", "COMPLETED")

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(value: Any) -> Any:
    """AI Core sends both whole seconds and nanoseconds; Python keeps microseconds."""
    if isinstance(value, str):
        if len(value) > 27:  # only nanosecond-ish fractions need trimming (and the regex)
            value = _FRACTION.sub(r"\1", value.strip())
        if value.endswith("Z"):
            value = value[:-1] + "+00:00"
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


Timestamp = Annotated[datetime, BeforeValidator(parse_timestamp)]


class ApiModel(BaseModel):
    model_config = ConfigDict(
        extra="allow", populate_by_name=True, alias_generator=to_camel, frozen=True
    )


class Artifact(ApiModel):
    id: str | None = None
    name: str | None = None
    kind: str | None = None
    url: str | None = None
    description: str | None = None


class Execution(ApiModel):
    id: str
    status: str = "UNKNOWN"
    configuration_id: str | None = None
    configuration_name: str | None = None
    scenario_id: str | None = None
    executable_id: str | None = None
    target_status: str | None = None
    status_message: str | None = None
    output_artifacts: list[Artifact] = Field(default_factory=list)
    execution_schedule_id: str | None = None
    created_at: Timestamp | None = None
    modified_at: Timestamp | None = None
    submission_time: Timestamp | None = None
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    status_details: dict[str, Any] | None = None


class ExecutionList(ApiModel):
    count: int = 0
    resources: list[Execution] = Field(default_factory=list)


class CreatedExecution(ApiModel):
    id: str
    message: str | None = None
    status: str | None = None
    url: str | None = None


class BulkItemError(ApiModel):
    code: str | None = None
    message: str | None = None
    request_id: str | None = None


class BulkItem(ApiModel):
    id: str
    message: str | None = None
    error: BulkItemError | None = None


class BulkResult(ApiModel):
    executions: list[BulkItem] = Field(default_factory=list)


class LogLine(ApiModel):
    timestamp: Timestamp | None = None
    msg: str = ""
    container: str | None = None
    pod: str | None = None


class ParameterBinding(ApiModel):
    """One value a configuration gives an executable's parameter (AI Core sends strings)."""

    key: str
    value: str = ""


class ArtifactBinding(ApiModel):
    """One registered artifact a configuration feeds to an executable's input."""

    key: str
    artifact_id: str


class Configuration(ApiModel):
    id: str
    name: str | None = None
    scenario_id: str | None = None
    executable_id: str | None = None
    parameter_bindings: list[ParameterBinding] = Field(default_factory=list)
    input_artifact_bindings: list[ArtifactBinding] = Field(default_factory=list)
    created_at: Timestamp | None = None


class ConfigurationList(ApiModel):
    """One page of configurations.

    ``count`` should be how many match in all; the spec does not say whether it may be just
    the page's size, so a caller never takes it for less than ``len(resources)``.
    """

    count: int = 0
    resources: list[Configuration] = Field(default_factory=list)


class CreatedConfiguration(ApiModel):
    id: str
    message: str | None = None


class Metric(ApiModel):
    name: str
    value: float | None = None
    step: int | None = None
    timestamp: Timestamp | None = None
    labels: list[dict[str, Any]] = Field(default_factory=list)


class ExecutionMetrics(ApiModel):
    execution_id: str
    metrics: list[Metric] = Field(default_factory=list)
    tags: list[dict[str, Any]] = Field(default_factory=list)
    custom_info: list[dict[str, Any]] = Field(default_factory=list)


class PromptTemplate(ApiModel):
    """A prompt template as the prompt registry lists it (its ``spec`` is not asked for)."""

    id: str
    name: str
    version: str
    scenario: str
    creation_timestamp: Timestamp | None = None
    managed_by: str | None = None
    is_version_head: bool | None = None
    resource_group_id: str | None = None


class PromptTemplateList(ApiModel):
    count: int = 0
    resources: list[PromptTemplate] = Field(default_factory=list)


def bulk_updates_supported(meta: dict[str, Any]) -> bool:
    """``aiApi.capabilities.bulkUpdates.executions``, which defaults to false."""
    capabilities = (meta.get("aiApi") or {}).get("capabilities") or {}
    bulk = capabilities.get("bulkUpdates") or {}
    return bool(bulk.get("executions", False))
