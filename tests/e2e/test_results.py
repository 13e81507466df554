"""What a finished run leaves in its thread, through the real bot (``python -m bot``): the chart
of its metric series, uploaded with Slack's upload flow, and a prompt optimization's templates
from the prompt registry, for both outcomes (beaten per target model, or not)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.providers.aicore.simulator import AICoreSimulator
from bot.providers.simkit import SystemClock
from tests.support.fake_slack import FakeSlack
from tests.support.process import running_bot

CHANNEL = "CRESULTS1"
DOCS = Path(__file__).resolve().parents[2] / "docs"
OPTIMIZATION = {
    "basePrompt": "support-bot/answer:1.0",
    "targetModels": "gpt-4o:2024-08-06,gemini-1.5-pro:002",
    "targetPromptMapping": (
        "gpt-4o:2024-08-06=answer-gpt:2.0,gemini-1.5-pro:002=answer-gemini:2.0"
    ),
    "optimizationMetric": "JSON_Match",
    "dataset": "train.json",
}


def diverging_loss(steps: int) -> list[dict[str, Any]]:
    """A loss that falls, then diverges and goes NaN: what the chart must make obvious."""
    loss = [
        {"name": "loss", "step": s, "value": 2.2 / (1 + s / 8) if s < 28 else 0.4 * 1.6 ** (s - 28)}
        for s in range(steps - 4)
    ]
    loss += [{"name": "loss", "step": s, "value": float("nan")} for s in range(steps - 4, steps)]
    accuracy = [{"name": "accuracy", "step": s, "value": min(0.9, s / 40)} for s in range(steps)]
    return loss + accuracy


def cards(fake: FakeSlack) -> list[Any]:
    return [m for m in fake.messages(CHANNEL, include_replies=False) if m.blocks]


def card_of(fake: FakeSlack, configuration: str) -> Any:
    return next(c for c in cards(fake) if configuration in str(c.blocks))


def test_a_finished_runs_chart_is_uploaded_into_its_thread(tmp_path: Any) -> None:
    sim = AICoreSimulator(clock=SystemClock(), pending_seconds=0.5, running_seconds=3)
    sim.add_configuration("cfg-curves", metrics=diverging_loss(40))
    sim.add_configuration("cfg-plain")
    fake = FakeSlack(bot_token="xoxb-test-token")
    database = f"sqlite:///{tmp_path / 'chatops.db'}"
    with running_bot(sim.app, fake, database, POLL_INTERVAL_SECONDS="0.5") as (_, slack, _url):
        for name in ("cfg-curves", "cfg-plain"):
            slack.command(f"start {name}", channel=CHANNEL)
        fake.wait_for_sync(lambda: len(cards(fake)) == 2)

        def charts(configuration: str) -> list[Any]:
            card = card_of(fake, configuration)
            return [m for m in fake.thread(CHANNEL, card.ts) if m.files]

        fake.wait_for_sync(lambda: bool(charts("cfg-curves")), timeout=30)
        plain = card_of(fake, "cfg-plain")
        fake.wait_for_sync(
            lambda: any("COMPLETED" in m.text for m in fake.thread(CHANNEL, plain.ts)), timeout=30
        )
    (chart,) = charts("cfg-curves")
    assert charts("cfg-plain") == []  # it logged no metrics
    (file,) = chart.files
    png = fake.file_bytes(file["id"])
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert ":warning: `loss` is NaN from step 36" in chart.text
    assert [c.method for c in fake.calls if "files" in c.method or c.method == "upload"] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    # Kept for the README and for a look: the chart exactly as the bot drew and uploaded it.
    (DOCS / "metrics-chart.png").write_bytes(png)


def test_a_completed_optimization_lists_its_templates_or_says_it_did_not_win(
    tmp_path: Any,
) -> None:
    sim = AICoreSimulator(clock=SystemClock(), pending_seconds=0.5, running_seconds=3)
    sim.add_configuration(
        "cfg-po-wins",
        parameters=OPTIMIZATION,
        optimized_templates=True,
        scenario_id="genai-optimizations",
        executable_id="genai-optimizations",
    )
    sim.add_configuration(
        "cfg-po-flat",
        parameters={**OPTIMIZATION, "promptTemplateScope": "resourcegroup"},
        optimized_templates=False,
        scenario_id="genai-optimizations",
        executable_id="genai-optimizations",
    )
    sim.add_prompt_template(scenario="support-bot", name="answer", version="1.0")
    fake = FakeSlack(bot_token="xoxb-test-token")
    database = f"sqlite:///{tmp_path / 'chatops.db'}"
    with running_bot(sim.app, fake, database, POLL_INTERVAL_SECONDS="0.5") as (_, slack, _url):
        for name in ("cfg-po-wins", "cfg-po-flat"):
            slack.command(f"start {name}", channel=CHANNEL)
        fake.wait_for_sync(lambda: len(cards(fake)) == 2)

        def summary(configuration: str) -> list[str]:
            card = card_of(fake, configuration)
            thread = fake.thread(CHANNEL, card.ts)
            return [m.text for m in thread if "Prompt optimization results" in m.text]

        fake.wait_for_sync(lambda: bool(summary("cfg-po-wins") and summary("cfg-po-flat")), 30)
    (wins,) = summary("cfg-po-wins")
    (flat,) = summary("cfg-po-flat")
    registry = sim.calls("GET", "/lm/promptTemplates")
    ids = {r.query["name"]: r for r in registry}
    assert set(ids) == {"answer-gpt", "answer-gemini"}
    for model, name in (
        ("gpt-4o:2024-08-06", "answer-gpt"),
        ("gemini-1.5-pro:002", "answer-gemini"),
    ):
        assert f"• `{model}`: :white_check_mark: `{name}` version `2.0` (ID `" in wins
        assert f"• `{model}`: did not beat the base prompt, so no `{name}:2.0` was written" in flat
    assert "templates kept in the tenant" in wins
    assert "templates kept in this resource group" in flat
    # The resource-group-scoped look-ups asked the registry with the scope header.
    scoped = [r for r in registry if r.headers.get("ai-resource-group-scope") == "true"]
    assert len(scoped) == 2
