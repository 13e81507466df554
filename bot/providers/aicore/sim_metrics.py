"""Tracking metrics in the AI Core simulator: ``GET /lm/metrics``.

A run's metric resource is what a test seeded for its id (``set_metrics``) or else, once the run
has left PENDING, its configuration's series (:func:`metric_series` checks one), stamped with
that moment. The answer may carry NaN and infinities, as Python's ``json`` writes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from starlette.responses import JSONResponse, Response

from bot.providers.aicore.sim_model import MetricResource, ResourceGroup, rfc3339
from bot.providers.aicore.sim_requests import bad_request, id_list_param, int_param

__all__ = ["MAX_METRICS_IDS", "metric_series", "metrics_page"]

MAX_METRICS_IDS: Final = 10


def metrics_page(group: ResourceGroup, query: Mapping[str, str], now: datetime) -> Response:
    """The metrics answer for ``group`` at ``now``."""
    ids = id_list_param(query, "executionIds")
    tag_filters = _tag_filters(query.get("tagFilters"))
    if ids is None and not tag_filters:
        raise bad_request("executionIds or tagFilters is required")
    if ids is not None and len(ids) > MAX_METRICS_IDS:
        raise bad_request(f"At most {MAX_METRICS_IDS} executionIds per request")
    selected = _metric_selection(query.get("$select"))
    top = int_param(query, "$top", default=1000, minimum=0, maximum=10000)
    skip = int_param(query, "$skip", default=0, minimum=0)
    resources = _metric_resources(group, now)
    if ids is not None:
        pool = [resources[i] for i in ids if i in resources]
    else:
        pool = sorted(resources.values(), key=lambda m: (m.created_at, m.execution_id))
    matching = [m for m in pool if all(f(m.tags) for f in tag_filters)]
    page = [_metric_json(m, selected) for m in matching[skip : skip + top]]
    return _JSONWithNaN({"count": len(matching), "resources": page})


def _metric_resources(group: ResourceGroup, now: datetime) -> dict[str, MetricResource]:
    """What ``set_metrics`` seeded and, for the other runs that have left PENDING (UNKNOWN,
    where nothing ran, does not count), their configuration's series, stamped then."""
    derived: dict[str, MetricResource] = {}
    for execution in group.ordered():
        series = execution.configuration.metrics
        if not series or execution.id in group.metrics:
            continue
        phases = execution.reached(now)
        left = next((p.at for p in phases if p.status not in {"PENDING", "UNKNOWN"}), None)
        if left is None:
            continue
        points = [{"timestamp": rfc3339(left), **point} for point in series]
        derived[execution.id] = MetricResource(execution.id, left, left, points, [], [])
    return {**derived, **group.metrics}


def metric_series(points: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """A configuration's metric series, checked (ValueError) and copied."""
    series = []
    for point in points:
        name, step, value = point.get("name"), point.get("step"), point.get("value")
        if (
            set(point) - {"name", "step", "value", "labels"}
            or not isinstance(name, str)
            or not name
            or not isinstance(step, int)
            or isinstance(step, bool)
            or step < 0
            or not isinstance(value, int | float)
            or isinstance(value, bool)
        ):
            raise ValueError(f"a metric needs name (str), step (int >= 0) and value, got {point}")
        series.append({**point, "value": float(value)})
    return tuple(series)


class _JSONWithNaN(JSONResponse):
    """JSON as Python's ``json`` writes it: NaN, Infinity and -Infinity (Starlette refuses them).

    The spec types a metric value as a plain number; whether and how the real service encodes
    NaN or infinities is unknown. These tokens are what ``json.loads`` (and so httpx) reads.
    """

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_MetricFilter = Callable[[list[dict[str, Any]]], bool]


def _tag_filters(raw: str | None) -> list[_MetricFilter]:
    """``name=value``, ``name!=value`` and bare ``name`` expressions, AND-ed."""
    if not raw:
        return []
    return [_tag_filter(expression.strip()) for expression in raw.split(",") if expression.strip()]


def _tag_filter(expression: str) -> _MetricFilter:
    negate = "!=" in expression
    name, _, value = expression.partition("!=" if negate else "=")
    if not name:
        raise bad_request(f"Malformed tag filter {expression!r}")
    has_value = "=" in expression

    def matches(tags: list[dict[str, Any]]) -> bool:
        found = any(
            t.get("name") == name and (not has_value or t.get("value") == value) for t in tags
        )
        return not found if negate else found

    return matches


def _metric_selection(raw: str | None) -> frozenset[str] | None:
    if raw is None:
        return None
    chosen = frozenset(part.strip() for part in raw.split(",") if part.strip())
    unknown = chosen - {"metrics", "tags", "customInfo", "*"}
    if unknown:
        raise bad_request(f"$select supports metrics, tags, customInfo or *, got {sorted(unknown)}")
    return None if "*" in chosen else chosen


def _metric_json(resource: MetricResource, selected: frozenset[str] | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "executionId": resource.execution_id,
        "createdAt": rfc3339(resource.created_at),
        "modifiedAt": rfc3339(resource.modified_at),
    }
    parts = {"metrics": resource.metrics, "tags": resource.tags, "customInfo": resource.custom_info}
    data.update({k: v for k, v in parts.items() if selected is None or k in selected})
    return data
