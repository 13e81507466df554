"""AI Core as a :class:`bot.providers.base.Provider`: statuses, allowed actions, runs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.blocks import Style
from bot.providers.aicore.client import AICoreClient, log_window_start
from bot.providers.aicore.models import (
    DELETABLE,
    STOPPABLE,
    Artifact,
    Configuration,
    Execution,
    ExecutionMetrics,
    LogLine,
    Metric,
)
from bot.providers.base import (
    Action,
    Lifecycle,
    Listing,
    LogEntry,
    Outcome,
    Run,
    Target,
    Targets,
)

OPTIMIZATION_SCENARIO = "genai-optimizations"
MAX_METRICS_SHOWN = 15
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
        return run.scenario == OPTIMIZATION_SCENARIO and run.lifecycle == Lifecycle.SUCCEEDED

    async def results_summary(self, run: Run) -> str:
        """What a prompt-optimization run produced: its metrics and its output artifacts."""
        metrics = await self.client.get_metrics(run.scope, [run.id])
        execution = _execution_of(run)
        return optimization_summary(run.id, metrics, execution.output_artifacts)

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


def optimization_summary(
    run_id: str, metrics: Sequence[ExecutionMetrics], artifacts: Sequence[Artifact]
) -> str:
    """A compact, readable digest of a prompt-optimization run's results.

    SAP documents neither the metric names nor how the optimized template is reported; it is
    written to the prompt registry only when it beat the base prompt. We look for it by name
    ("template") among the output artifacts, tags and custom info, and say so when absent.
    """
    lines = [f":bar_chart: *Prompt optimization results* for `{run_id}`"]
    latest: dict[str, Metric] = {}
    tags: dict[str, str] = {}
    for item in metrics:
        for metric in item.metrics:
            current = latest.get(metric.name)
            if current is None or (metric.step or 0) >= (current.step or 0):
                latest[metric.name] = metric
        for pair in [*item.tags, *item.custom_info]:
            if pair.get("name"):
                tags[str(pair["name"])] = str(pair.get("value", ""))
    if latest:
        lines.append("*Metrics*")
        for name in sorted(latest)[:MAX_METRICS_SHOWN]:
            metric = latest[name]
            step = f" (step {metric.step})" if metric.step is not None else ""
            lines.append(f"• {name}: *{_number(metric.value)}*{step}")
        if len(latest) > MAX_METRICS_SHOWN:
            lines.append(f"• …and {len(latest) - MAX_METRICS_SHOWN} more")
    else:
        lines.append("_No metrics were recorded for this run._")
    if artifacts:
        lines.append("*Output artifacts*")
        lines += [
            f"• {a.name or a.id or '?'} ({a.kind or 'other'}): `{a.url or '—'}`"
            for a in artifacts[:10]
        ]
    templates = [f"{name}: {value}" for name, value in tags.items() if "template" in name.lower()]
    templates += [f"{a.name}: {a.url}" for a in artifacts if "template" in (a.name or "").lower()]
    if templates:
        lines.append("*Optimized prompt template*")
        lines += [f"• {t}" for t in templates[:5]]
    else:
        lines.append(
            "*No optimized prompt template was produced*: the optimization did not "
            "beat the base prompt, so the prompt registry is unchanged."
        )
    return "\n".join(lines)


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}"


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


def _execution_of(run: Run) -> Execution:
    if isinstance(run.source, Execution):
        return run.source
    return Execution(id=run.id)


def _entry(line: LogLine) -> LogEntry:
    return LogEntry(timestamp=line.timestamp, message=line.msg)


async def _no_total() -> int | None:
    return None
