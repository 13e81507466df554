"""The failure triage (bot.triage) on real-looking status messages, details and log lines."""

from __future__ import annotations

import pytest

from bot import blocks
from bot.triage import CAUSES, classify
from tests.support.runs import sample_run

CASES = [
    (
        "gpu_out_of_memory",
        None,
        [
            "Epoch 1/10: 12%|█▏        | 120/1000 [00:31<03:48, 3.85it/s, loss=2.31]",
            "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; "
            "15.77 GiB total capacity; 13.92 GiB already allocated)",
        ],
    ),
    ("process_out_of_memory", "Pod OOMKilled: the container exceeded its memory limit", []),
    ("process_out_of_memory", None, ["Command terminated with exit code 137"]),
    ("process_out_of_memory", None, ['  File "prep.py", line 9', "MemoryError"]),
    (
        "image_pull",
        'Back-off pulling image "docker.io/acme/train:1.4": ImagePullBackOff',
        [],
    ),
    (
        "image_pull",
        None,
        ["Failed to pull image: pull access denied for acme/train, repository does not exist"],
    ),
    (
        "missing_secret",
        "Object store secret 'default' not found in resource group team-a",
        [],
    ),
    ("missing_secret", None, ["botocore.exceptions.ClientError: (NoSuchBucket) bucket ml-out"]),
    (
        "quota",
        "0/12 nodes are available: 4 Insufficient nvidia.com/gpu. Unschedulable",
        [],
    ),
    ("quota", "The tenant's quota for pods is exhausted", []),
    (
        "nan_loss",
        None,
        ["step 1200 | loss: 0.412", "step 1300 | loss: nan", "ValueError: training diverged"],
    ),
    ("nan_loss", None, ["RuntimeError: Loss is inf, stopping training"]),
    (
        "missing_input",
        None,
        ["FileNotFoundError: [Errno 2] No such file or directory: '/app/data/train.csv'"],
    ),
    ("missing_input", "Input artifact dataset-7 not found", []),
    ("permission_denied", None, ["PermissionError: [Errno 13] Permission denied: '/mnt/out'"]),
    ("permission_denied", None, ["An error occurred (AccessDenied) when calling PutObject"]),
]


@pytest.mark.parametrize(("cause", "message", "lines"), CASES)
def test_each_cause_is_recognised_in_what_the_run_says(
    cause: str, message: str | None, lines: list[str]
) -> None:
    found = classify(status_message=message, status_details=None, log_lines=lines)
    assert found is not None and found.cause.key == cause
    assert found.evidence  # the words it was seen in


def test_every_cause_of_the_table_has_a_case() -> None:
    assert {c.key for c in CAUSES} == {case[0] for case in CASES}


@pytest.mark.parametrize(
    ("message", "lines"),
    [
        (None, []),
        ("Execution failed", ["Epoch 3/3 done", "Traceback (most recent call last):"]),
        (None, ["ValueError: unknown optimizer 'adamw2'"]),
        ("The pod was evicted", ["loss=0.12 (best: 0.11)"]),  # a loss, but a finite one
    ],
)
def test_what_matches_no_cause_stays_unknown(message: str | None, lines: list[str]) -> None:
    assert classify(status_message=message, status_details=None, log_lines=lines) is None


def test_the_status_message_outranks_the_logs_and_details_are_read_too() -> None:
    found = classify(
        status_message="Pod OOMKilled",
        status_details=None,
        log_lines=["FileNotFoundError: /app/data/x"],
    )
    assert found is not None and found.cause.key == "process_out_of_memory"
    details = {"reason": "ErrImagePull", "message": "manifest for acme/x:9 unknown"}
    found = classify(status_message=None, status_details=details, log_lines=[])
    assert found is not None and found.cause.key == "image_pull"


def test_the_dead_alert_shows_the_cause_and_hint_above_the_log_lines() -> None:
    run = sample_run("DEAD", status_message="Pod OOMKilled")
    diagnosis = classify(status_message=run.status_message, status_details=None)
    alert = blocks.alert_blocks(
        run,
        label="AI Core",
        kind="dead",
        entries=[],
        diagnosis=diagnosis,
    )
    texts = [b.get("text", {}).get("text", "") for b in alert]
    cause = next(i for i, t in enumerate(texts) if t.startswith("*Likely cause:*"))
    assert cause == 1 and "resource plan" in texts[cause]
    assert "Likely cause" not in str(blocks.alert_blocks(run, label="AI Core", kind="dead"))
