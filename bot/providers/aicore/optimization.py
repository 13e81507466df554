"""What a finished prompt optimization produced, read from the prompt registry.

SAP documents the outcome of a ``genai-optimizations`` run as one optimized prompt template
per target model in the prompt registry, named and versioned as the configuration's
``targetPromptMapping`` says, in the base prompt's scenario, tenant-wide or in the run's
resource group (``promptTemplateScope``); and *no* template for a model where the optimization
did not beat the base prompt. So the summary is built from the configuration's bindings and
one registry look-up per target model, never from guesses at metric or tag names:

- ``basePrompt``: ``<scenario>/<promptName>:<promptVersion>``
- ``targetModels``: ``<modelName>:<modelVersion>,...`` (at most 4)
- ``targetPromptMapping``: ``<modelName>:<modelVersion>=<promptName>:<promptVersion>,...``
- ``promptTemplateScope``: ``tenant`` (default) or ``resourcegroup``

A template of that name and version that was created before the run started is not the
run's work (an earlier run, or a person, wrote it): the model is reported as not beaten, and
the older template is named so nobody mistakes it for a new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.blocks import escape
from bot.errors import ProviderError
from bot.providers.aicore.models import Artifact, ExecutionMetrics, Metric, PromptTemplate

SCENARIO = "genai-optimizations"
MAX_METRICS_SHOWN = 15
MAX_TARGET_MODELS = 4
# Clocks of AI Core's services may disagree a little; a template written this much before
# the run was created still counts as the run's.
CLOCK_SKEW = timedelta(seconds=60)


@dataclass(frozen=True)
class PromptRef:
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True)
class Plan:
    """What the configuration asked the optimization to write."""

    scenario: str | None  # the base prompt's scenario, where templates are written
    base_prompt: str | None
    target_models: tuple[str, ...]
    mapping: Mapping[str, PromptRef]  # target model -> the template it writes
    resource_group_scoped: bool


def plan_of(parameters: Mapping[str, str]) -> Plan:
    """The optimization's plan from its configuration's parameter bindings."""
    base = (parameters.get("basePrompt") or "").strip() or None
    scenario = (base.partition("/")[0].strip() or None) if base and "/" in base else None
    listed = (parameters.get("targetModels") or "").split(",")
    models = tuple(m.strip() for m in listed if m.strip())
    mapping: dict[str, PromptRef] = {}
    for entry in (parameters.get("targetPromptMapping") or "").split(","):
        model, equals, prompt = entry.partition("=")
        name, colon, version = prompt.strip().rpartition(":")
        if equals and colon and model.strip() and name and version:
            mapping[model.strip()] = PromptRef(name.strip(), version.strip())
    scope = (parameters.get("promptTemplateScope") or "tenant").strip().lower()
    return Plan(
        scenario=scenario,
        base_prompt=base,
        target_models=models or tuple(mapping),
        mapping=mapping,
        resource_group_scoped=scope == "resourcegroup",
    )


@dataclass(frozen=True)
class Finding:
    """What the registry says about one target model."""

    model: str
    wanted: PromptRef | None  # None: targetPromptMapping names no template for the model
    template: PromptTemplate | None = None  # the run's optimized template
    older: PromptTemplate | None = None  # a template of that name that predates the run
    problem: str | None = None  # the look-up failed (with AI Core's requestId)


Lookup = Callable[[str, PromptRef], Awaitable[list[PromptTemplate]]]


async def find_templates(
    plan: Plan, lookup: Lookup, *, run_created_at: datetime | None
) -> list[Finding]:
    """One registry look-up per target model (in parallel; at most four)."""

    async def one(model: str) -> Finding:
        wanted = plan.mapping.get(model)
        if wanted is None or plan.scenario is None:
            return Finding(model, wanted)
        try:
            found = await lookup(plan.scenario, wanted)
        except ProviderError as exc:
            return Finding(model, wanted, problem=exc.user_text())
        exact = [t for t in found if t.name == wanted.name and t.version == wanted.version]
        newest = max(exact, key=_created, default=None)
        if newest is None:
            return Finding(model, wanted)
        made = newest.creation_timestamp
        if run_created_at is not None and made is not None and made < run_created_at - CLOCK_SKEW:
            return Finding(model, wanted, older=newest)
        return Finding(model, wanted, template=newest)

    return list(await asyncio.gather(*(one(m) for m in plan.target_models[:MAX_TARGET_MODELS])))


def summary(
    run_id: str,
    *,
    plan: Plan | None,
    findings: Sequence[Finding],
    configuration_problem: str | None,
    metrics: Sequence[ExecutionMetrics],
    artifacts: Sequence[Artifact],
) -> str:
    """The thread reply for a completed optimization, in mrkdwn (provider text escaped)."""
    lines = [f":bar_chart: *Prompt optimization results* for `{escape(run_id)}`"]
    if plan is not None and plan.base_prompt:
        where = "this resource group" if plan.resource_group_scoped else "the tenant"
        lines.append(f"Base prompt `{escape(plan.base_prompt)}`, templates kept in {where}")
    lines += _templates(plan, findings, configuration_problem)
    lines += _metrics(metrics)
    if artifacts:
        lines.append("*Output artifacts*")
        lines += [
            f"• {escape(a.name or a.id or '?')} ({escape(a.kind or 'other')}): "
            f"`{escape(a.url or '—')}`"
            for a in artifacts[:10]
        ]
    return "\n".join(lines)


def _templates(
    plan: Plan | None, findings: Sequence[Finding], configuration_problem: str | None
) -> list[str]:
    if configuration_problem is not None:
        return [
            f":warning: The configuration could not be read, so the optimized templates "
            f"were not looked up: {configuration_problem}"
        ]
    if plan is None or not plan.target_models:
        return ["_The configuration names no target models, so there are no templates to find._"]
    lines = ["*Optimized prompt templates*"]
    for finding in findings:
        model = f"`{escape(finding.model)}`"
        wanted = f"`{escape(str(finding.wanted))}`" if finding.wanted else ""
        if finding.problem is not None:
            lines.append(f"• {model}: :warning: {wanted} could not be looked up: {finding.problem}")
        elif finding.template is not None:
            t = finding.template
            lines.append(
                f"• {model}: :white_check_mark: `{escape(t.name)}` version "
                f"`{escape(t.version)}` (ID `{escape(t.id)}`)"
            )
        elif finding.wanted is None:
            lines.append(f"• {model}: `targetPromptMapping` names no template for this model")
        elif plan.scenario is None:
            lines.append(f"• {model}: `basePrompt` names no scenario, so {wanted} was not found")
        elif finding.older is not None:
            made = _created(finding.older).strftime("%Y-%m-%d %H:%M UTC")
            lines.append(
                f"• {model}: did not beat the base prompt ({wanted} in the registry was "
                f"written before this run, {made})"
            )
        else:
            lines.append(f"• {model}: did not beat the base prompt, so no {wanted} was written")
    return lines


def _metrics(metrics: Sequence[ExecutionMetrics]) -> list[str]:
    latest: dict[str, Metric] = {}
    for item in metrics:
        for metric in item.metrics:
            current = latest.get(metric.name)
            if current is None or (metric.step or 0) >= (current.step or 0):
                latest[metric.name] = metric
    if not latest:
        return ["_No metrics were recorded for this run._"]
    lines = ["*Metrics*"]
    for name in sorted(latest)[:MAX_METRICS_SHOWN]:
        metric = latest[name]
        step = f" (step {metric.step})" if metric.step is not None else ""
        lines.append(f"• {escape(name)}: *{_number(metric.value)}*{step}")
    if len(latest) > MAX_METRICS_SHOWN:
        lines.append(f"• …and {len(latest) - MAX_METRICS_SHOWN} more")
    return lines


def _created(template: PromptTemplate) -> datetime:
    return template.creation_timestamp or datetime.min.replace(tzinfo=UTC)


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}"
