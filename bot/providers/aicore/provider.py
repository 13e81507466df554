"""AI Core as a :class:`bot.providers.base.Provider`: statuses, allowed actions, runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.providers.aicore.client import AICoreClient, ItemOutcome, log_window_start
from bot.providers.aicore.models import DELETABLE, STOPPABLE, Execution, LogLine
from bot.providers.base import Action, Lifecycle, LogEntry, Outcome, Run

_LIFECYCLE = {
    "PENDING": Lifecycle.QUEUED,
    "RUNNING": Lifecycle.RUNNING,
    "COMPLETED": Lifecycle.SUCCEEDED,
    "DEAD": Lifecycle.FAILED,
    "STOPPING": Lifecycle.STOPPING,
    "STOPPED": Lifecycle.STOPPED,
    "UNKNOWN": Lifecycle.UNKNOWN,
}


class AICoreProvider:
    name = "aicore"
    label = "AI Core"
    command = "/aicore"

    def __init__(self, client: AICoreClient) -> None:
        self.client = client

    def lifecycle_of(self, status: str) -> Lifecycle:
        return _LIFECYCLE.get(status.upper(), Lifecycle.UNKNOWN)

    def allows(self, status: str, action: Action) -> bool:
        allowed = STOPPABLE if action == "stop" else DELETABLE
        return status.upper() in allowed

    def run_from_snapshot(self, scope: str, snapshot: dict[str, Any]) -> Run:
        return self.to_run(scope, Execution.model_validate(snapshot))

    def to_run(self, scope: str, execution: Execution) -> Run:
        return Run(
            provider=self.name,
            scope=scope,
            id=execution.id,
            status=execution.status,
            lifecycle=self.lifecycle_of(execution.status),
            title=execution.configuration_name,
            target_id=execution.configuration_id,
            scenario=execution.scenario_id,
            status_message=execution.status_message,
            created_at=execution.created_at,
            submitted_at=execution.submission_time,
            started_at=execution.start_time,
            completed_at=execution.completion_time,
            modified_at=execution.modified_at,
            outputs=tuple(a.url or a.name or "?" for a in execution.output_artifacts),
            raw=execution.model_dump(mode="json", by_alias=True),
        )

    async def get(self, scope: str, run_id: str) -> Run:
        return self.to_run(scope, await self.client.get_execution(scope, run_id))

    async def list_runs(self, scope: str, *, status: str | None = None) -> list[Run]:
        executions = await self.client.list_executions(scope, status=status)
        return [self.to_run(scope, e) for e in executions]

    async def start(self, scope: str, target: str, params: Mapping[str, str]) -> Run:
        """Start an execution of configuration ``target`` (AI Core takes no parameters here)."""
        configuration_id = target
        return self.to_run(scope, await self.client.start_execution(scope, configuration_id))

    async def stop(self, scope: str, run_ids: Sequence[str]) -> list[Outcome]:
        return [_outcome(o) for o in await self.client.modify_many(scope, run_ids, "STOPPED")]

    async def delete(self, scope: str, run_ids: Sequence[str]) -> list[Outcome]:
        return [_outcome(o) for o in await self.client.modify_many(scope, run_ids, "DELETED")]

    async def tail_logs(self, run: Run, lines: int) -> list[LogEntry]:
        execution = Execution.model_validate(run.raw) if run.raw else Execution(id=run.id)
        return [_entry(line) for line in await self.client.tail_logs(run.scope, execution, lines)]

    async def logs_page(self, run: Run, *, before: datetime | None, lines: int) -> list[LogEntry]:
        """``lines`` lines ending just before ``before`` (newest page when None), oldest first."""
        execution = Execution.model_validate(run.raw) if run.raw else Execution(id=run.id)
        newest_first = await self.client.get_logs(
            run.scope,
            run.id,
            start=log_window_start(execution),
            # The API's `end` is inclusive: stop just short of the oldest line already shown.
            end=before - timedelta(microseconds=1) if before is not None else None,
            top=lines,
            order="desc",
        )
        return [_entry(line) for line in reversed(newest_first)]


def _outcome(item: ItemOutcome) -> Outcome:
    return Outcome(item.id, item.ok, item.message, code=item.code, request_id=item.request_id)


def _entry(line: LogLine) -> LogEntry:
    return LogEntry(timestamp=line.timestamp, message=line.msg)
