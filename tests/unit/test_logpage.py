"""The log page renderer: hostile text stays text, lines keep their order, paging links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.logpage import format_before, parse_before, render_log_page
from bot.providers.base import Lifecycle, LogEntry, Run

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
SCRIPT = "<script>alert('x')</script>"


def make_run(**overrides: object) -> Run:
    fields: dict[str, object] = {
        "provider": "aicore",
        "scope": "default",
        "id": "exec1234",
        "status": "RUNNING",
        "lifecycle": Lifecycle.RUNNING,
        "title": "resnet-train",
        "submitted_at": T0,
    }
    fields.update(overrides)
    return Run(**fields)  # type: ignore[arg-type]


def render(
    entries: list[LogEntry] | None = None,
    *,
    run: Run | None = None,
    older: str | None = None,
    newer: str | None = None,
) -> str:
    return render_log_page(
        run=run or make_run(),
        label="AI Core",
        entries=entries or [],
        older_href=older,
        newer_href=newer,
    )


def test_is_a_complete_page_with_the_run_in_its_header() -> None:
    page = render([LogEntry(T0, "hello")])
    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    header = page[page.index("<header>") : page.index("</header>")]
    assert "exec1234" in header
    assert "RUNNING" in header
    assert "resnet-train" in header
    assert "AI Core" in header


def test_hostile_log_text_is_escaped() -> None:
    hostile = [
        LogEntry(T0, SCRIPT),
        LogEntry(T0, '"><img src=x onerror=alert(1)>'),
        LogEntry(T0, "a & b </div></main>"),
    ]
    page = render(hostile)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<img" not in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "a &amp; b &lt;/div&gt;&lt;/main&gt;" in page


def test_hostile_run_fields_are_escaped() -> None:
    run = make_run(
        id="<b>id</b>",
        status="<i>RUNNING</i>",
        title=SCRIPT,
        scope="<u>scope</u>",
        status_message="<iframe src=//evil>",
    )
    page = render_log_page(
        run=run, label="<em>AI</em>", entries=[], older_href=None, newer_href=None
    )
    for raw in ("<b>", "<i>", "<script", "<u>", "<iframe", "<em>"):
        assert raw not in page
    assert "&lt;b&gt;id&lt;/b&gt;" in page
    assert "&lt;iframe src=//evil&gt;" in page


def test_hostile_hrefs_cannot_break_out_of_the_attribute() -> None:
    page = render(older='?a=1&b="><script>x</script>', newer="?x='y'")
    assert "<script>" not in page
    assert 'href="?a=1&amp;b=&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' in page
    assert 'href="?x=&#x27;y&#x27;"' in page


def test_lines_are_shown_in_the_order_given_with_their_timestamps() -> None:
    entries = [LogEntry(T0 + timedelta(seconds=i, milliseconds=250), f"line {i}") for i in range(5)]
    page = render(entries)
    positions = [page.index(f"line {i}<") for i in range(5)]
    assert positions == sorted(positions)
    assert "2025-01-06 09:00:03.250" in page


def test_a_line_without_timestamp_is_still_shown() -> None:
    page = render([LogEntry(None, "no time here")])
    assert "no time here" in page


def test_an_empty_page_says_so() -> None:
    assert "No log lines" in render([])


def test_paging_links_are_shown_only_when_given() -> None:
    neither = render([LogEntry(T0, "x")])
    assert "Older lines" not in neither and "Newest lines" not in neither
    assert "<a " not in neither

    both = render([LogEntry(T0, "x")], older="?before=1", newer="?exp=2")
    assert re.search(r'<a href="\?before=1"[^>]*>[^<]*Older lines', both)
    assert re.search(r'<a href="\?exp=2"[^>]*>Newest lines', both)

    only_older = render([LogEntry(T0, "x")], older="?before=1")
    assert "Older lines" in only_older and "Newest lines" not in only_older


def test_the_page_loads_nothing_from_elsewhere() -> None:
    page = render([LogEntry(T0, "x")], older="?a", newer="?b")
    assert "<script" not in page
    assert "<link" not in page
    assert "http://" not in page and "https://" not in page
    assert "src=" not in page


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-01-06T09:00:00Z", T0),
        ("2025-01-06T09:00:00.123456Z", T0 + timedelta(microseconds=123456)),
        ("2025-01-06T10:00:00+01:00", T0),
        ("2025-01-06T09:00:00.123456789Z", T0 + timedelta(microseconds=123456)),
    ],
)
def test_before_parses_rfc3339(raw: str, expected: datetime) -> None:
    assert parse_before(raw) == expected


@pytest.mark.parametrize(
    "raw", ["yesterday", "2025-01-06", "2025-01-06T09:00:00", "2025-01-06T09:00:00 01:00"]
)
def test_before_refuses_anything_else(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_before(raw)


def test_before_round_trips_to_the_microsecond() -> None:
    moment = T0 + timedelta(microseconds=7)
    assert parse_before(format_before(moment)) == moment
    assert "+" not in format_before(moment)
