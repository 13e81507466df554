"""The metric chart: a PNG with a panel per metric, and broken values said in words."""

from __future__ import annotations

import io
import math

import pytest
from matplotlib.image import imread

from bot import charts

NAN = float("nan")


def _pixels(png: bytes) -> tuple[int, int]:
    image = imread(io.BytesIO(png), format="png")
    return image.shape[1], image.shape[0]


def test_one_panel_per_metric_two_columns() -> None:
    one = charts.render_png({"loss": [(0, 1.0), (1, 0.5)]}, title="t")
    four = charts.render_png(
        {name: [(0, 1.0), (1, 0.5)] for name in ("a", "b", "c", "d")}, title="t"
    )
    assert one.startswith(b"\x89PNG\r\n\x1a\n")
    (w1, h1), (w4, h4) = _pixels(one), _pixels(four)
    assert w4 == 2 * w1  # two columns
    assert h4 > 1.8 * h1 - 60  # two rows (the title strip is shared)


def test_panels_are_capped_and_the_caption_names_the_rest() -> None:
    series = {f"m{i:02d}": [(0, 1.0), (1, 2.0)] for i in range(11)}
    capped = charts.render_png(series, title="t")
    eight = charts.render_png({n: series[n] for n in sorted(series)[:8]}, title="t")
    assert _pixels(capped) == _pixels(eight)
    assert "and 3 more not drawn" in charts.caption(series)


def test_a_nan_loss_is_named_with_its_first_step() -> None:
    series = {"loss": [(0, 2.0), (1, 1.0), (7, NAN), (5, 0.5), (9, NAN)], "acc": [(0, 0.1)]}
    assert charts.first_broken(series) == [
        charts.Broken("loss", 7, pytest.approx(NAN, nan_ok=True))
    ]
    caption = charts.caption(series)
    assert ":warning: `loss` is NaN from step 7" in caption
    assert "up to step 9" in caption
    diverged = {"loss": [(0, 1.0), (3, math.inf)]}
    assert "+inf from step 3" in charts.caption(diverged)
    # The chart draws, whatever the broken points.
    assert charts.render_png(series, title="t").startswith(b"\x89PNG")


def test_a_series_of_only_broken_values_still_draws() -> None:
    assert charts.render_png({"loss": [(0, NAN), (1, NAN)]}, title="t").startswith(b"\x89PNG")


def test_the_caption_escapes_metric_names_for_mrkdwn_and_not_for_pages() -> None:
    series = {"<!channel> loss": [(0, 1.0), (1, NAN)]}
    assert "`&lt;!channel&gt; loss`" in charts.caption(series)
    plain = charts.caption(series, mrkdwn=False)
    assert "<!channel> loss is NaN from step 1" in plain and "`" not in plain


def test_long_series_are_thinned_but_keep_every_broken_point() -> None:
    points = [(float(i), NAN if i in (12_345, 40_001) else float(i)) for i in range(50_000)]
    thinned = charts._thinned(points)
    assert len(thinned) <= charts.MAX_POINTS + 3
    assert {s for s, v in thinned if math.isnan(v)} == {12_345.0, 40_001.0}
    assert thinned[0][0] == 0 and thinned[-1][0] == 49_999


def test_nothing_to_draw_is_an_error() -> None:
    with pytest.raises(ValueError, match="nothing to draw"):
        charts.render_png({"loss": []}, title="t")
