"""Bria tailored-generation training as a :class:`bot.providers.base.Provider`.

A "run" is a model's training: its id is the model id, its scope the Bria account (one API
token, so one scope, ``bria``). Bria has no logs API: cards carry no Logs button and a failed
training's alert carries the status alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.blocks import Style
from bot.errors import InputError, ProviderError
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
from bot.providers.bria import training
from bot.providers.bria.client import BriaClient
from bot.providers.bria.models import TailoredModel

SCOPE = "bria"

_LIFECYCLE = {
    "created": Lifecycle.QUEUED,
    "inprogress": Lifecycle.RUNNING,
    "syncing": Lifecycle.RUNNING,  # uploaded models (upload_model) sync, then complete
    "completed": Lifecycle.SUCCEEDED,
    "failed": Lifecycle.FAILED,
    "stopping": Lifecycle.STOPPING,
    "stopped": Lifecycle.STOPPED,
}
STOPPABLE = ("InProgress",)
# Bria refuses to delete "a model that is currently in training"; a model still stopping
# is treated the same way until it has stopped.
DELETABLE = ("Created", "Completed", "Failed", "Stopped")

_PARAMETER_LABELS = {
    "total_training_steps": "steps",
    "learning_rate": "lr",
    "rank": "rank",
    "lr_scheduler": "scheduler",
    "lr_warmup_steps": "warmup",
    "checkpoint_interval": "checkpoint",
}


def model_id(run_id: str) -> int:
    if not run_id.isdigit():
        raise InputError(f"`{run_id}` is not a Bria model ID: model IDs are whole numbers.")
    return int(run_id)


class BriaProvider:
    name = "bria"
    label = "Bria"
    command = "/bria"

    def __init__(self, client: BriaClient) -> None:
        self.client = client
        self.style = Style(
            label=self.label,
            allows=self.allows,
            stoppable=STOPPABLE,
            deletable=DELETABLE,
            target_word="Model",
            scenario_word="Training",
            scope_word="Account",
            has_logs=False,
            has_metrics=False,
            can_rerun=False,  # a model is trained once (a new model is made in Bria's console)
            can_change=False,
        )

    def lifecycle_of(self, status: str) -> Lifecycle:
        return _LIFECYCLE.get(status.replace("_", "").lower(), Lifecycle.UNKNOWN)

    def allows(self, status: str, action: Action) -> bool:
        allowed = STOPPABLE if action == "stop" else DELETABLE
        return status.lower() in {s.lower() for s in allowed}

    def to_run(self, model: TailoredModel) -> Run:
        details = [("Mode", model.training_mode.replace("_", " "))]
        if model.training_parameters:
            details.append(("Parameters", parameters_text(model.training_parameters)))
        return Run(
            provider=self.name,
            scope=SCOPE,
            id=str(model.id),
            status=model.status,
            lifecycle=self.lifecycle_of(model.status),
            title=model.name or None,
            target_id=str(model.id),
            scenario=f"tailored-gen {model.training_version or 'fibo'}",
            created_at=model.created_at,
            modified_at=model.updated_at,
            details=tuple(details),
            source=model,
        )

    def run_from_snapshot(self, scope: str, snapshot: dict[str, Any]) -> Run:
        return self.to_run(TailoredModel.model_validate(snapshot))

    async def get(self, scope: str, run_id: str) -> Run:
        return self.to_run(await self.client.get_model(model_id(run_id)))

    async def list_runs(self, scope: str, *, status: str | None = None) -> list[Run]:
        models = await self.client.list_models()
        runs = [self.to_run(m) for m in models]
        return [r for r in runs if status is None or r.status.lower() == status.lower()]

    async def list_active(self, scope: str, *, with_total: bool) -> Listing:
        """Bria lists every model in one call: complete, whole records, no GET needed."""
        models = await self.client.list_models()
        return Listing({str(m.id): self.to_run(m) for m in models}, complete=True, full=True)

    async def list_created_since(self, scope: str, since: datetime) -> list[Run]:
        runs = await self.list_runs(scope)
        return [r for r in runs if r.created_at is not None and r.created_at >= since]

    async def find_started(self, scope: str, target: str, since: datetime) -> list[Run]:
        """A model whose training started has left ``Created``; Bria keeps no start time."""
        run = await self.get(scope, target)
        return [] if run.lifecycle == Lifecycle.QUEUED else [run]

    async def start(self, scope: str, target: str, params: Mapping[str, str]) -> Run:
        """Start training; expert-only parameters and the rules between them are checked first."""
        model = await self.client.get_model(model_id(target))
        body = training.resolve(model, params)
        return self.to_run(await self.client.start_training(model.id, body))

    # -- models as what trainings start from ----------------------------------------------

    # A model is trained once: other parameters mean a new model, made in Bria's console.
    can_derive = False

    async def get_target(self, scope: str, target_id: str) -> Target:
        return _target(await self.client.get_model(model_id(target_id)))

    async def find_targets(self, scope: str, text: str | None, *, limit: int) -> Targets:
        models = await self.client.list_models(include_training_parameters=False)
        wanted = (text or "").lower()
        found = [_target(m) for m in models if wanted in m.name.lower()]
        found.sort(key=lambda t: (-(t.created_at.timestamp() if t.created_at else 0.0), t.id))
        return Targets(found=found[:limit], total=len(found))

    async def derive_target(
        self, scope: str, base: Target, parameters: Sequence[tuple[str, str]], *, name: str
    ) -> Target:
        raise InputError(
            "A Bria model is trained once: to train with other parameters, create a new model."
        )

    async def stop(self, scope: str, run_ids: Sequence[str]) -> list[Outcome]:
        outcomes = []
        for run_id in run_ids:
            try:
                message = await self.client.stop_training(model_id(run_id))
                outcomes.append(Outcome(run_id, True, message or "Training stop requested"))
            except ProviderError as exc:
                outcomes.append(
                    Outcome(run_id, False, exc.message, code=exc.code, request_id=exc.request_id)
                )
        return outcomes

    async def delete(self, scope: str, run_ids: Sequence[str]) -> list[Outcome]:
        outcomes = []
        for run_id in run_ids:
            try:
                await self.client.delete_model(model_id(run_id))
                outcomes.append(Outcome(run_id, True, "Model deleted"))
            except ProviderError as exc:
                outcomes.append(
                    Outcome(run_id, False, exc.message, code=exc.code, request_id=exc.request_id)
                )
        return outcomes

    def has_results(self, run: Run) -> bool:
        return False  # the card already shows the parameters Bria reports

    async def results_summary(self, run: Run) -> str:
        return ""

    async def metric_series(self, run: Run) -> MetricSeries:
        return {}  # Bria reports no training metrics

    async def tail_logs(self, run: Run, lines: int) -> list[LogEntry]:
        return []  # Bria publishes no training logs

    async def newest_log_at(self, run: Run) -> datetime | None:
        return None  # Bria has no logs API: its runs are never judged silent

    async def logs_page(self, run: Run, *, before: datetime | None, lines: int) -> list[LogEntry]:
        return []


def _target(model: TailoredModel) -> Target:
    return Target(
        provider="bria",
        scope=SCOPE,
        id=str(model.id),
        name=model.name or str(model.id),
        scenario=f"tailored-gen {model.training_version or 'fibo'}",
        created_at=model.created_at,
    )


def parameters_text(parameters: Mapping[str, Any]) -> str:
    """The parameters Bria reports it uses, in the words of the /bria train options."""
    parts = []
    for api_name, value in parameters.items():
        if value is None:
            continue
        parts.append(f"{_PARAMETER_LABELS.get(api_name, api_name)} {value}")
    return " · ".join(parts) or "Bria's defaults"
