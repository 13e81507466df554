"""The simulated providers of the sandbox, with a story a newcomer can try.

AI Core, resource group ``default``:

- ``demo-train``: PENDING for a few seconds, RUNNING, COMPLETED within about a minute;
- ``demo-fail``: goes DEAD within about half a minute, out of memory, with the log lines to
  show for it;
- ``demo-queue``: stays PENDING, as when the tenant's pod quota is reached;
- ``demo-hang``: RUNNING, then silent: it stops logging after a few seconds, as a hung job
  does, and the stuck check tells the channel.
- ``demo-optimize``: a prompt optimization (scenario ``genai-optimizations``) that beats its
  base prompt for two target models: its thread lists the two templates it wrote to the
  prompt registry; ``demo-optimize-flat`` beats it for neither, and says so.

``demo-train`` and ``demo-fail`` log metric series (a loss that falls; one that falls, then
diverges to NaN before the run dies), so their threads get a chart when they end.

Each has parameter values, so that a copy made with one value changed (a new configuration)
behaves like the one it was copied from: the simulator lends a created configuration the
behaviour of the one with the most values in common, the newest of equals. One copy does not:
``demo-train`` with another ``batch_size`` has as many values in common with the newer
``demo-queue``, so it stays PENDING.

Bria: a dataset with two models, one in ``expert`` mode (training parameters allowed) and one
fully automated. Both simulators run on the real clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.providers.aicore.simulator import AICoreSimulator
from bot.providers.bria.simulator import BriaSimulator
from bot.providers.simkit import SystemClock

RESOURCE_GROUP = "default"
PENDING_SECONDS = 5.0
TRAIN_RUNNING_SECONDS = 40.0
FAIL_RUNNING_SECONDS = 15.0
BRIA_TRAINING_SECONDS = 60.0
HANG_RUNNING_SECONDS = 3600.0

OUT_OF_MEMORY_LOG = (
    "Epoch 3/10: 41%|████      | 412/1000 [00:51<01:13, 8.02it/s, loss=0.734]",
    "Traceback (most recent call last):",
    '  File "/app/train.py", line 112, in <module>',
    "    loss.backward()",
    "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB "
    "(GPU 0; 15.77 GiB total capacity; 13.92 GiB already allocated)",
    "Killed: the container exceeded its memory limit (exit code 137, OOMKilled)",
)


# What the scheduler says of a run queued behind the tenant's pod quota (the PENDING alert).
QUEUED_DETAILS = {
    "reason": "PodQuotaReached",
    "message": "All 50 pods of the tenant's quota are in use; the run starts when one is free",
}


# A prompt optimization as SAP documents its configuration (all values are strings).
OPTIMIZATION_PARAMETERS = {
    "basePrompt": "support-bot/answer-ticket:1.0",
    "targetModels": "gpt-4o:2024-08-06,gemini-1.5-pro:002",
    "targetPromptMapping": (
        "gpt-4o:2024-08-06=answer-ticket-gpt4o:1.1,gemini-1.5-pro:002=answer-ticket-gemini:1.1"
    ),
    "optimizationMetric": "JSON_Match",
    "dataset": "tickets/train.json",
}


def falling_loss(steps: int) -> list[dict[str, object]]:
    """A training that learns: loss falls, accuracy rises."""
    return [
        {"name": "loss", "step": s, "value": round(2.3 / (1 + s / 6) + 0.05, 4)}
        for s in range(steps)
    ] + [
        {"name": "accuracy", "step": s, "value": round(0.1 + 0.85 * s / steps, 4)}
        for s in range(steps)
    ]


def diverging_loss(steps: int) -> list[dict[str, object]]:
    """A training whose loss falls, blows up, then is NaN (the chart shows where)."""
    turn = steps * 2 // 3
    points: list[dict[str, object]] = []
    for s in range(steps):
        if s < turn:
            value = round(2.3 / (1 + s / 6), 4)
        elif s < steps - 3:
            value = round(0.6 * 1.9 ** (s - turn), 4)
        else:
            value = float("nan")
        points.append({"name": "loss", "step": s, "value": value})
    return points


@dataclass(frozen=True)
class DemoModels:
    expert: int
    automated: int


def aicore_simulator(client_id: str, client_secret: str, *, speed: float = 1.0) -> AICoreSimulator:
    """``speed`` above 1 plays the story faster (tests play it at 10)."""
    sim = AICoreSimulator(
        clock=SystemClock(),
        client_id=client_id,
        client_secret=client_secret,
        pending_seconds=PENDING_SECONDS / speed,
        running_seconds=TRAIN_RUNNING_SECONDS / speed,
        stopping_seconds=2.0 / speed,
    )
    sim.add_configuration(
        "demo-train",
        name="Train a small model",
        scenario_id="demo",
        executable_id="trainer",
        parameters={"epochs": "3", "learning_rate": "0.001", "batch_size": "32"},
        metrics=falling_loss(60),
    )
    sim.add_configuration(
        "demo-fail",
        name="Train with too large a batch",
        scenario_id="demo",
        executable_id="trainer",
        outcome="DEAD",
        status_message="Pod OOMKilled: the container exceeded its memory limit (exit code 137)",
        running_seconds=FAIL_RUNNING_SECONDS / speed,
        last_words=OUT_OF_MEMORY_LOG,
        parameters={"epochs": "10", "learning_rate": "0.001", "batch_size": "512"},
        metrics=diverging_loss(30),
    )
    sim.add_configuration(
        "demo-queue",
        name="Train on a full tenant",
        scenario_id="demo",
        executable_id="trainer",
        outcome="PENDING_FOREVER",
        parameters={"epochs": "3", "learning_rate": "0.001", "batch_size": "64", "gpus": "8"},
        pending_details=QUEUED_DETAILS,
    )
    sim.add_configuration(
        "demo-hang",
        name="Train with a stalled data loader",
        scenario_id="demo",
        executable_id="loader",  # its own executable: copies of the others never hang
        running_seconds=HANG_RUNNING_SECONDS,
        silent_after_seconds=3.0 / speed,
        parameters={"epochs": "3", "num_workers": "16"},
    )
    sim.add_configuration(
        "demo-optimize",
        name="Optimize the ticket answer prompt",
        parameters=OPTIMIZATION_PARAMETERS,
        optimized_templates=True,
        input_artifacts={"datasetFolder": "demo-tickets"},
        scenario_id="genai-optimizations",
        executable_id="genai-optimizations",
    )
    sim.add_configuration(
        "demo-optimize-flat",
        name="Optimize an already good prompt",
        parameters={**OPTIMIZATION_PARAMETERS, "promptTemplateScope": "resourcegroup"},
        optimized_templates=False,
        input_artifacts={"datasetFolder": "demo-tickets"},
        scenario_id="genai-optimizations",
        executable_id="genai-optimizations",
    )
    sim.add_prompt_template(scenario="support-bot", name="answer-ticket", version="1.0")
    return sim


def bria_simulator(api_token: str, *, speed: float = 1.0) -> tuple[BriaSimulator, DemoModels]:
    sim = BriaSimulator(
        clock=SystemClock(), api_token=api_token, training_seconds=BRIA_TRAINING_SECONDS / speed
    )
    project = sim.add_project("Demo mascot")
    dataset = sim.add_dataset(project, name="Mascot poses", training_version="fibo")
    expert = sim.add_model(dataset, name="Mascot (expert)", training_mode="expert")
    automated = sim.add_model(dataset, name="Mascot (automatic)")
    return sim, DemoModels(expert=expert, automated=automated)
