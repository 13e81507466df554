"""AI Core as a :class:`bot.providers.base.Provider`: statuses, allowed actions, runs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.blocks import Style
from bot.errors import ProviderError
from bot.providers.aicore import optimization
from bot.providers.aicore.client import AICoreClient, log_window_start
from bot.providers.aicore.models import (
    DELETABLE,
    STOPPABLE,
    Configuration,
    Execution,
    LogLine,
    Metric,
    PromptTemplate,
)
from bot.providers.base import (
    Action,
    Lifecycle,
    Listing,
    LogEntry,
    MetricSeries,
    Outcome,
    Run,
    Target,
    Targets,
)

# Listed every poll cycle, one call each (the list filters by one status): where new runs
# appear and where runs wait. A followed run in any other status (STOPPING, or one that has
# finished) is read with a GET; finished runs are never listed, however many there are.
LISTED_STATUSES = ("PENDING", "RUNNING", "UNKNOWN")
SWEEP_PAGE_SIZE = 10_000  # a sweep keeps one page in memory at a time
# ``$search`` takes 1 to 80 characters, none of them ``~``; other texts are matched here.
SEARCHABLE = re.compile(r"^[^~]{1,80}$")
ALL_CONFIGURATIONS = 10_000  # AI Core's default page: a resource group's whole catalogue

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
        self.style = Style(
            label=self.label,
            allows=self.allows,
            stoppable=STOPPABLE,
            deletable=DELETABLE,
        )

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
            source=execution,
        )

    async def get(self, scope: str, run_id: str) -> Run:
        return self.to_run(scope, await self.client.get_execution(scope, run_id))

    async def list_runs(self, scope: str, *, status: str | None = None) -> list[Run]:
        executions = await self.client.list_executions(scope, status=status)
        return [self.to_run(scope, e) for e in executions]

    async def list_active(self, scope: str, *, with_total: bool) -> Listing:
        listings = [
            self.client.list_executions(scope, status=status, select_status=True)
            for status in LISTED_STATUSES
        ]
        # Counted together with the listings: a run that changes status between the two is
        # explained by the next cycle's comparison.
        count = self.client.count_executions(scope) if with_total else _no_total()
        pages, total = await asyncio.gather(asyncio.gather(*listings), count)
        runs = {e.id: self.to_run(scope, e) for page in pages for e in page}
        return Listing(runs, complete=False, full=False, total=total)

    async def list_created_since(self, scope: str, since: datetime) -> list[Run]:
        found: list[Run] = []
        async for page in self.client.execution_pages(
            scope, select_status=True, page_size=SWEEP_PAGE_SIZE
        ):
            found += [
                self.to_run(scope, e)
                for e in page
                if e.created_at is not None and e.created_at >= since
            ]
        return found

    async def start(self, scope: str, target: str, params: Mapping[str, str]) -> Run:
        """Start an execution of configuration ``target`` (AI Core takes no parameters here)."""
        configuration_id = target
        return self.to_run(scope, await self.client.start_execution(scope, configuration_id))

    # -- configurations ----------------------------------------------------------------------

    can_derive = True

    async def get_target(self, scope: str, target_id: str) -> Target:
        return _target(scope, await self.client.get_configuration(scope, target_id))

    async def find_targets(self, scope: str, text: str | None, *, limit: int) -> Targets:
        if text is None or SEARCHABLE.match(text):
            answer = await self.client.list_configurations(scope, search=text, top=limit)
            found, total = answer.resources, answer.count
        else:  # a text $search refuses: the whole catalogue, matched here
            answer = await self.client.list_configurations(scope, top=ALL_CONFIGURATIONS)
            found = [c for c in answer.resources if text.lower() in (c.name or "").lower()]
            total = len(found)
        targets = sorted((_target(scope, c) for c in found), key=_newest_first)
        return Targets(found=targets[:limit], total=max(total, len(found)))

    async def derive_target(
        self, scope: str, base: Target, parameters: Sequence[tuple[str, str]], *, name: str
    ) -> Target:
        new_id = await self.client.create_configuration(
            scope,
            name=name,
            scenario_id=base.scenario or "",
            executable_id=base.executable or "",
            parameter_bindings=list(parameters),
            input_artifact_bindings=list(base.artifacts),
        )
        return Target(
            provider=self.name,
            scope=scope,
            id=new_id,
            name=name,
            scenario=base.scenario,
            executable=base.executable,
            parameters=tuple(parameters),
            artifacts=base.artifacts,
        )

    async def find_started(self, scope: str, target: str, since: datetime) -> list[Run]:
        candidates = await self.client.list_executions(scope, configuration_id=target)
        recent = [e for e in candidates if e.created_at is not None and e.created_at >= since]
        recent.sort(key=lambda e: (e.created_at or since, e.id))
        return [self.to_run(scope, e) for e in recent]

    async def stop(self, scope: str, run_ids: Sequence[str]) -> list[Outcome]:
        return await self.client.modify_many(scope, run_ids, "STOPPED")

    async def delete(self, scope: str, run_ids: Sequence[str]) -> list[Outcome]:
        return await self.client.modify_many(scope, run_ids, "DELETED")

    def has_results(self, run: Run) -> bool:
        return run.scenario == optimization.SCENARIO and run.lifecycle == Lifecycle.SUCCEEDED

    async def results_summary(self, run: Run) -> str:
        """A prompt optimization's templates (from the prompt registry), metrics, artifacts."""
        execution = _execution_of(run)
        metrics = await self.client.get_metrics(run.scope, [run.id])
        plan: optimization.Plan | None = None
        problem: str | None = None
        findings: list[optimization.Finding] = []
        try:
            configuration = await self.client.get_configuration(
                run.scope, execution.configuration_id or ""
            )
        except ProviderError as exc:
            problem = exc.user_text()
        else:
            plan = optimization.plan_of({b.key: b.value for b in configuration.parameter_bindings})

            async def lookup(scenario: str, wanted: optimization.PromptRef) -> list[PromptTemplate]:
                assert plan is not None
                return await self.client.find_prompt_templates(
                    run.scope,
                    scenario=scenario,
                    name=wanted.name,
                    version=wanted.version,
                    resource_group_scoped=plan.resource_group_scoped,
                )

            findings = await optimization.find_templates(
                plan, lookup, run_created_at=run.created_at
            )
        return optimization.summary(
            run.id,
            plan=plan,
            findings=findings,
            configuration_problem=problem,
            metrics=metrics,
            artifacts=execution.output_artifacts,
        )

    async def metric_series(self, run: Run) -> MetricSeries:
        """Each metric's points in step order; a metric logged without steps is numbered by
        its timestamps' order. Points without a value are left out."""
        found = await self.client.get_metrics(run.scope, [run.id])
        by_name: dict[str, list[Metric]] = {}
        for item in found:
            for metric in item.metrics:
                if metric.value is not None:
                    by_name.setdefault(metric.name, []).append(metric)
        series: MetricSeries = {}
        for name, points in by_name.items():
            if all(p.step is not None for p in points):
                ordered = sorted(points, key=lambda p: (p.step or 0, _stamp(p)))
                series[name] = [(float(p.step or 0), float(p.value or 0)) for p in ordered]
            else:
                ordered = sorted(points, key=_stamp)
                series[name] = [(float(i), float(p.value or 0)) for i, p in enumerate(ordered)]
        return series

    async def tail_logs(self, run: Run, lines: int) -> list[LogEntry]:
        execution = _execution_of(run)
        return [_entry(line) for line in await self.client.tail_logs(run.scope, execution, lines)]

    async def newest_log_at(self, run: Run) -> datetime | None:
        """``$top=1&$order=desc`` over the run's whole life: one line, the newest."""
        execution = _execution_of(run)
        newest = await self.client.get_logs(
            run.scope, run.id, start=log_window_start(execution), top=1, order="desc"
        )
        return newest[0].timestamp if newest else None

    async def logs_page(self, run: Run, *, before: datetime | None, lines: int) -> list[LogEntry]:
        """``lines`` lines ending just before ``before`` (newest page when None), oldest first."""
        execution = _execution_of(run)
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


def _target(scope: str, configuration: Configuration) -> Target:
    return Target(
        provider="aicore",
        scope=scope,
        id=configuration.id,
        name=configuration.name or configuration.id,
        scenario=configuration.scenario_id,
        executable=configuration.executable_id,
        parameters=tuple((b.key, b.value) for b in configuration.parameter_bindings),
        artifacts=tuple((b.key, b.artifact_id) for b in configuration.input_artifact_bindings),
        created_at=configuration.created_at,
    )


def _newest_first(target: Target) -> tuple[float, str]:
    return (-(target.created_at.timestamp() if target.created_at else 0.0), target.id)


def _stamp(metric: Metric) -> float:
    return metric.timestamp.timestamp() if metric.timestamp is not None else 0.0


def _execution_of(run: Run) -> Execution:
    if isinstance(run.source, Execution):
        return run.source
    return Execution(id=run.id)


def _entry(line: LogLine) -> LogEntry:
    return LogEntry(timestamp=line.timestamp, message=line.msg)


async def _no_total() -> int | None:
    return None
