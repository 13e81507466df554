"""A finished prompt optimization's summary: the plan read from the configuration, one
registry look-up per target model, and what the thread says for each outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import ProviderUnavailable
from bot.providers.aicore import optimization
from bot.providers.aicore.models import Artifact, ExecutionMetrics, Metric, PromptTemplate
from bot.providers.aicore.optimization import Finding, PromptRef

STARTED = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
PARAMETERS = {
    "basePrompt": "support-bot/answer:1.0",
    "targetModels": "gpt-4o:2024-08-06, gemini-1.5-pro:002",
    "targetPromptMapping": "gpt-4o:2024-08-06=answer-gpt:2.0,gemini-1.5-pro:002=answer-gemini:2.0",
    "optimizationMetric": "JSON_Match",
}


def template(name: str, version: str, *, made: datetime, uid: str = "") -> PromptTemplate:
    return PromptTemplate(
        id=uid or f"0000-{name}",
        name=name,
        version=version,
        scenario="support-bot",
        creation_timestamp=made,
        is_version_head=True,
    )


def test_the_plan_comes_from_the_bindings() -> None:
    plan = optimization.plan_of({**PARAMETERS, "promptTemplateScope": "resourcegroup"})
    assert plan.scenario == "support-bot"
    assert plan.target_models == ("gpt-4o:2024-08-06", "gemini-1.5-pro:002")
    assert plan.mapping == {
        "gpt-4o:2024-08-06": PromptRef("answer-gpt", "2.0"),
        "gemini-1.5-pro:002": PromptRef("answer-gemini", "2.0"),
    }
    assert plan.resource_group_scoped
    assert not optimization.plan_of(PARAMETERS).resource_group_scoped  # tenant by default


def test_a_plan_with_holes_is_read_as_far_as_it_goes() -> None:
    plan = optimization.plan_of(
        {"basePrompt": "no-scenario:1", "targetPromptMapping": "m:1=p:1,broken,=x:1,m:2=nover"}
    )
    assert plan.scenario is None
    assert plan.mapping == {"m:1": PromptRef("p", "1")}
    assert plan.target_models == ("m:1",)  # no targetModels: the mapped ones


async def test_each_target_model_is_looked_up_in_the_base_prompts_scenario() -> None:
    asked: list[tuple[str, PromptRef]] = []

    async def lookup(scenario: str, wanted: PromptRef) -> list[PromptTemplate]:
        asked.append((scenario, wanted))
        if wanted.name == "answer-gpt":
            return [
                template("answer-gpt", "2.0", made=STARTED + timedelta(hours=1), uid="new"),
                template("answer-gpt", "2.0", made=STARTED + timedelta(minutes=5), uid="old"),
            ]
        return []

    findings = await optimization.find_templates(
        optimization.plan_of(PARAMETERS), lookup, run_created_at=STARTED
    )
    assert sorted(asked, key=str) == [
        ("support-bot", PromptRef("answer-gemini", "2.0")),
        ("support-bot", PromptRef("answer-gpt", "2.0")),
    ]
    gpt, gemini = findings
    assert gpt.template is not None and gpt.template.id == "new"  # the newest of that version
    assert gemini.template is None and gemini.older is None and gemini.problem is None


async def test_a_template_older_than_the_run_is_not_its_result() -> None:
    async def lookup(scenario: str, wanted: PromptRef) -> list[PromptTemplate]:
        return [template(wanted.name, wanted.version, made=STARTED - timedelta(days=3))]

    findings = await optimization.find_templates(
        optimization.plan_of(PARAMETERS), lookup, run_created_at=STARTED
    )
    assert all(f.template is None and f.older is not None for f in findings)
    text = optimization.summary(
        "e1",
        plan=optimization.plan_of(PARAMETERS),
        findings=findings,
        configuration_problem=None,
        metrics=[],
        artifacts=[],
    )
    assert (
        "did not beat the base prompt (`answer-gpt:2.0` in the registry was written "
        "before this run, 2026-11-29 09:00 UTC)" in text
    )


async def test_a_failed_look_up_says_so_with_the_request_id() -> None:
    async def lookup(scenario: str, wanted: PromptRef) -> list[PromptTemplate]:
        raise ProviderUnavailable("AI Core answered HTTP 503", request_id="req-77")

    plan = optimization.plan_of(PARAMETERS)
    findings = await optimization.find_templates(plan, lookup, run_created_at=STARTED)
    text = optimization.summary(
        "e1", plan=plan, findings=findings, configuration_problem=None, metrics=[], artifacts=[]
    )
    assert text.count("could not be looked up") == 2 and "req-77" in text
    assert "did not beat" not in text  # a failure is not an outcome


def test_the_summary_lists_each_model_metrics_and_artifacts() -> None:
    plan = optimization.plan_of(PARAMETERS)
    findings = [
        Finding(
            "gpt-4o:2024-08-06",
            PromptRef("answer-gpt", "2.0"),
            template=template("answer-gpt", "2.0", made=STARTED, uid="9b1c-uuid"),
        ),
        Finding("gemini-1.5-pro:002", PromptRef("answer-gemini", "2.0")),
    ]
    metrics = [
        ExecutionMetrics(
            execution_id="e1",
            metrics=[
                Metric(name="JSON_Match", value=0.61, step=0),
                Metric(name="JSON_Match", value=0.83, step=4),
                Metric(name="baseline <b>", value=0.5),
            ],
        )
    ]
    artifacts = [Artifact(name="results", kind="other", url="ai://default/e1/results")]
    text = optimization.summary(
        "e1",
        plan=plan,
        findings=findings,
        configuration_problem=None,
        metrics=metrics,
        artifacts=artifacts,
    )
    assert "Base prompt `support-bot/answer:1.0`, templates kept in the tenant" in text
    assert (
        "• `gpt-4o:2024-08-06`: :white_check_mark: `answer-gpt` version `2.0` (ID `9b1c-uuid`)"
        in text
    )
    assert (
        "• `gemini-1.5-pro:002`: did not beat the base prompt, so no `answer-gemini:2.0` was "
        "written" in text
    )
    assert "• JSON_Match: *0.83* (step 4)" in text  # the last step's value
    assert "baseline &lt;b&gt;" in text  # provider text is escaped
    assert "`ai://default/e1/results`" in text


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({}, "names no target models"),
        ({"targetModels": "m:1"}, "`targetPromptMapping` names no template for this model"),
        (
            {"targetModels": "m:1", "targetPromptMapping": "m:1=p:1", "basePrompt": "p:1"},
            "`basePrompt` names no scenario",
        ),
    ],
)
async def test_a_configuration_that_cannot_be_looked_up_says_why(
    parameters: dict[str, str], says: str
) -> None:
    async def lookup(scenario: str, wanted: PromptRef) -> list[PromptTemplate]:
        raise AssertionError("nothing to look up")

    plan = optimization.plan_of(parameters)
    findings = await optimization.find_templates(plan, lookup, run_created_at=STARTED)
    text = optimization.summary(
        "e1", plan=plan, findings=findings, configuration_problem=None, metrics=[], artifacts=[]
    )
    assert says in text


def test_an_unreadable_configuration_keeps_the_metrics() -> None:
    text = optimization.summary(
        "e1",
        plan=None,
        findings=[],
        configuration_problem="not found (requestId req-9)",
        metrics=[ExecutionMetrics(execution_id="e1", metrics=[Metric(name="score", value=1)])],
        artifacts=[],
    )
    assert "configuration could not be read" in text and "req-9" in text
    assert "• score: *1*" in text
