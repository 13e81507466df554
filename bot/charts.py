"""A run's metric series as one PNG: a panel per metric, steps on x.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global figure state), so
several charts may be drawn at once in worker threads. A value that is not finite (NaN, or a
loss that ran off to infinity) cannot sit on an axis: it is drawn as a red cross on the
panel's top edge, and the panel's title says from which step, so a broken run is seen at a
glance rather than as a line that just stops.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.blocks import escape

# One point: (step, value). Steps are what the run logged, or the order it logged them in.
Point = tuple[float, float]
Series = Mapping[str, Sequence[Point]]

MAX_PANELS = 8  # a Slack image stays readable; the rest are named in the caption
MAX_POINTS = 5000  # per series: more is thinned evenly (non-finite points are always kept)
COLUMNS = 2
PANEL_WIDTH_INCHES = 5.0
PANEL_HEIGHT_INCHES = 2.8
DPI = 100
BROKEN_COLOUR = "#d62728"
LINE_COLOUR = "#1264a3"


@dataclass(frozen=True)
class Broken:
    """Where a series stopped being a number."""

    metric: str
    step: float
    value: float  # nan, inf or -inf


def first_broken(series: Series) -> list[Broken]:
    """For each metric that has one, its first non-finite value (in step order)."""
    found = []
    for name, points in series.items():
        for step, value in sorted(points, key=lambda p: p[0]):
            if not math.isfinite(value):
                found.append(Broken(name, step, value))
                break
    return found


def describe(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "+inf" if value > 0 else "-inf"


def render_png(series: Series, *, title: str) -> bytes:
    """The chart of ``series`` (which must hold at least one point) as PNG bytes."""
    # Imported here, not at the top: matplotlib costs most processes (the web process that
    # acks, a worker with no run ending) close to a second at start for nothing.
    import numpy
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Values at the edge of float range overflow inside the layout: that is an error to
    # raise (ValueError), not a warning to print on the way to it.
    with numpy.errstate(all="ignore"):
        return _draw(series, title, Figure, FigureCanvasAgg)


def _draw(series: Series, title: str, figure_class: Any, canvas_class: Any) -> bytes:
    names = [name for name in sorted(series) if series[name]][:MAX_PANELS]
    if not names:
        raise ValueError("there is nothing to draw")
    columns = min(COLUMNS, len(names))
    rows = math.ceil(len(names) / columns)
    figure = figure_class(
        figsize=(PANEL_WIDTH_INCHES * columns, PANEL_HEIGHT_INCHES * rows + 0.6),
        dpi=DPI,
        layout="constrained",
    )
    canvas_class(figure)
    figure.suptitle(title, fontsize=12)
    broken = {b.metric: b for b in first_broken({n: series[n] for n in names})}
    for index, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, index + 1)
        points = _thinned(sorted(series[name], key=lambda p: p[0]))
        finite = [(s, v) for s, v in points if math.isfinite(v)]
        if finite:
            axes.plot([s for s, _ in finite], [v for _, v in finite], color=LINE_COLOUR, lw=1.4)
            if len(finite) == 1:
                axes.plot(finite[0][0], finite[0][1], "o", color=LINE_COLOUR)
        bad = [s for s, v in points if not math.isfinite(v)]
        if bad:
            # On the top edge whatever the data's range: x in data, y in axes coordinates.
            axes.plot(
                bad,
                [1.0] * len(bad),
                "x",
                color=BROKEN_COLOUR,
                markersize=7,
                clip_on=False,
                transform=axes.get_xaxis_transform(),
            )
        label = name
        if name in broken:
            first = broken[name]
            label += f"  ({describe(first.value)} from step {_step(first.step)})"
        axes.set_title(label, fontsize=10, color=BROKEN_COLOUR if name in broken else "black")
        axes.set_xlabel("step", fontsize=8)
        axes.tick_params(labelsize=8)
        axes.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def caption(series: Series, *, mrkdwn: bool = True, limit: int = MAX_PANELS) -> str:
    """Under the chart: what is drawn, and what went wrong, in words; Slack mrkdwn (names
    escaped) or, with ``mrkdwn=False``, plain text for a page to escape."""

    def name(text: str) -> str:
        return f"`{escape(text)}`" if mrkdwn else text

    warning = ":warning: " if mrkdwn else "⚠ "
    names = sorted(n for n in series if series[n])
    shown = ", ".join(name(n) for n in names[:limit])
    more = f" and {len(names) - limit} more not drawn" if len(names) > limit else ""
    last = max((p[0] for n in names for p in series[n]), default=0.0)
    line = f"{shown}{more}, up to step {_step(last)}"
    problems = [
        f"{warning}{name(b.metric)} is {describe(b.value)} from step {_step(b.step)}"
        for b in first_broken(series)
    ]
    return "\n".join([line, *problems])


def _thinned(points: Sequence[Point]) -> list[Point]:
    if len(points) <= MAX_POINTS:
        return list(points)
    stride = len(points) / MAX_POINTS
    kept = {int(i * stride) for i in range(MAX_POINTS)} | {len(points) - 1}
    kept |= {i for i, (_, v) in enumerate(points) if not math.isfinite(v)}
    return [points[i] for i in sorted(kept)]


def _step(step: float) -> str:
    return str(int(step)) if float(step).is_integer() else f"{step:g}"
