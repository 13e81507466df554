"""Why a run most likely died: a small table of causes, matched against what the run says.

Pure functions. The sources are read in order of authority: the status message, then the
status details, then the log lines, newest first (what a run writes as it dies names the
cause; earlier lines may name a warning it survived). The table is ordered from the most
specific cause to the most general, and the first cause with a match in the first source that
has one wins. A run matching no cause gets no diagnosis: the alert says nothing rather than
guess.

=====================  ==============================================================
cause                  matched (case-insensitive)
=====================  ==============================================================
gpu_out_of_memory      CUDA out of memory, torch.cuda.OutOfMemoryError, CUBLAS alloc
process_out_of_memory  OOMKilled, exit code 137, MemoryError, Cannot allocate memory
image_pull             ErrImagePull, ImagePullBackOff, pull access denied, manifest unknown
missing_secret         secret not found, object store secret, NoSuchBucket, bad access key
quota                  quota, resource plan, Insufficient cpu/memory/gpu, Unschedulable
nan_loss               a loss that is NaN or inf, non-finite loss
missing_input          FileNotFoundError, No such file or directory, artifact not found
permission_denied      PermissionError, Permission denied, AccessDenied, 403 Forbidden
=====================  ==============================================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cause:
    key: str
    title: str  # one line, what happened
    hint: str  # one line, what to do next
    pattern: re.Pattern[str]


def _any(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)


CAUSES: tuple[Cause, ...] = (
    Cause(
        "gpu_out_of_memory",
        "The GPU ran out of memory.",
        "Lower the batch size or sequence length, use gradient accumulation or mixed "
        "precision, or pick a resource plan with a larger GPU.",
        _any(r"CUDA out of memory", r"cuda\.OutOfMemoryError", r"CUBLAS_STATUS_ALLOC_FAILED"),
    ),
    Cause(
        "process_out_of_memory",
        "The process ran out of memory (killed by the system, exit code 137).",
        "Raise the resource plan (`ai.sap.com/resourcePlan` in the executable) or make the "
        "job use less memory (smaller batches, streamed data).",
        _any(
            r"OOMKilled",
            r"exit (?:code|status)\W{0,3}137",
            r"\bMemoryError\b",
            r"Cannot allocate memory",
        ),
    ),
    Cause(
        "image_pull",
        "The container image could not be pulled.",
        "Check the image name and tag in the executable, and the docker registry secret of "
        "the resource group.",
        _any(
            r"ErrImagePull",
            r"ImagePullBackOff",
            r"pull access denied",
            r"manifest (?:for \S+ )?unknown",
            r"failed to pull image",
        ),
    ),
    Cause(
        "missing_secret",
        "A secret or the object store is missing or wrong.",
        "Register the object store secret (named `default` for output artifacts) in the "
        "resource group, and check the secrets the executable names.",
        _any(
            r"secrets? \S+ not found",
            r"secret\S* (?:is )?(?:missing|not found|does not exist)",
            r"object ?store secret",
            r"objectStoreSecret",
            r"NoSuchBucket",
            r"InvalidAccessKeyId",
            r"SignatureDoesNotMatch",
        ),
    ),
    Cause(
        "quota",
        "The tenant's quota or the resource plan does not allow this run.",
        "Pick a resource plan the tenant has, wait for other runs to finish, or ask SAP "
        "(a support ticket) to raise the quota.",
        _any(
            r"\bquota\b",
            r"resource ?plan \S+ (?:is )?(?:not|un)",
            r"Insufficient (?:nvidia\.com/gpu|cpu|memory)",
            r"Unschedulable",
            r"FailedScheduling",
        ),
    ),
    Cause(
        "nan_loss",
        "The loss became NaN or infinite.",
        "Lower the learning rate, clip the gradients, check the data for NaN or empty "
        "values, or train in full precision.",
        _any(
            r"\bloss\W{0,3}(?:is |=|:)?\W{0,2}-?(?:nan|inf)\b",
            r"\b(?:nan|inf) loss\b",
            r"non-finite loss",
        ),
    ),
    Cause(
        "missing_input",
        "An input artifact or file is missing.",
        "Check the configuration's input artifact bindings and the paths the code reads.",
        _any(
            r"FileNotFoundError",
            r"No such file or directory",
            r"(?:input )?artifact \S+ (?:was )?not found",
        ),
    ),
    Cause(
        "permission_denied",
        "Permission was denied.",
        "Check the object store secret's rights on its bucket, the credentials the code "
        "uses, and the file permissions in the image.",
        _any(r"PermissionError", r"Permission denied", r"AccessDenied", r"403 Forbidden"),
    ),
)


@dataclass(frozen=True)
class Diagnosis:
    cause: Cause
    evidence: str  # the text that matched, as the run wrote it


def classify(
    *,
    status_message: str | None,
    status_details: Mapping[str, Any] | None,
    log_lines: Sequence[str] = (),
) -> Diagnosis | None:
    """The most likely cause of a run's death, or None: unknown stays unknown."""
    sources: list[list[str]] = [
        [status_message] if status_message else [],
        _details_texts(status_details),
        list(reversed(log_lines)),
    ]
    for texts in sources:
        for cause in CAUSES:
            for text in texts:
                match = cause.pattern.search(text)
                if match:
                    return Diagnosis(cause, _around(text, match))
    return None


def _details_texts(details: Mapping[str, Any] | None) -> list[str]:
    if not details:
        return []
    return [json.dumps(details, default=str)]


def _around(text: str, match: re.Match[str], width: int = 160) -> str:
    start = max(0, match.start() - width // 2)
    shown = text[start : start + width].strip()
    return ("…" if start else "") + shown + ("…" if start + width < len(text) else "")
