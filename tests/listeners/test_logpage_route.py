"""GET /logs/...: signed links render the run's log; anything else is refused before AI Core."""

from __future__ import annotations

import base64
import html
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.app import Components, build
from bot.loglinks import LogLinks, derive_key
from bot.logpage import log_page_route
from bot.providers.aicore.simulator import AICoreSimulator
from bot.web import build_web
from tests.conftest import FAST_RETRY, bot_settings
from tests.support.bolt import SIGNING_SECRET
from tests.support.fake_slack import FakeSlack
from tests.support.servers import ServedApp

LINES_PER_PAGE = 5
PUBLIC_URL = "http://bot.test"
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
def sim() -> AICoreSimulator:
    """The simulator on its fixed default clock: the paging test checks dated timestamps."""
    simulator = AICoreSimulator(pending_seconds=5, running_seconds=60, stopping_seconds=2)
    simulator.add_configuration("cfg-train", name="resnet-train", scenario_id="training")
    return simulator


@dataclass
class Site:
    components: Components
    links: LogLinks
    browser: httpx.AsyncClient


@pytest.fixture
async def site(
    sim: AICoreSimulator, fake_slack: tuple[FakeSlack, ServedApp], database_url: str
) -> AsyncIterator[Site]:
    """Like ``wired``, with PUBLIC_URL set, and a browser on the bot's Starlette app."""
    _fake, served = fake_slack
    settings = bot_settings(
        slack_url=served.url,
        aicore_url="http://aicore.sim",
        database_url=database_url,
        public_url=PUBLIC_URL,
    )
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app))
    components = await build(settings, http=http, retry=FAST_RETRY)
    links = components.service.log_links
    assert links is not None
    web = build_web(
        components,
        extra_routes=[log_page_route(components.service, links, lines_per_page=LINES_PER_PAGE)],
    )
    browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url=PUBLIC_URL)
    try:
        yield Site(components, links, browser)
    finally:
        await browser.aclose()
        await components.aclose()


def assert_html_with_security_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


def log_lines(page: str) -> list[str]:
    """The messages of the log lines on a page, in page order, unescaped."""
    return [html.unescape(m) for m in re.findall(r'<span class="msg">(.*?)</span>', page, re.S)]


def href(page: str, text: str) -> str | None:
    found = re.search(r'<a href="([^"]*)"[^>]*>[^<]*' + re.escape(text), page)
    return html.unescape(found.group(1)) if found else None


def completed_run(sim: AICoreSimulator) -> str:
    # Pinned COMPLETED: one automatic line ("Training finished") at creation, nothing more.
    return sim.add_execution(configuration_id="cfg-train", status="COMPLETED")


async def test_a_signed_link_renders_the_runs_log(site: Site, sim: AICoreSimulator) -> None:
    run_id = completed_run(sim)
    sim.advance(1)
    sim.add_logs(run_id, ["epoch 1 done", "<script>alert(1)</script>", "epoch 2 done"])

    response = await site.browser.get(site.links.path_for("aicore", "default", run_id))

    assert response.status_code == 200
    assert_html_with_security_headers(response)
    page = response.text
    assert run_id in page and "COMPLETED" in page and "resnet-train" in page
    # The simulator's own "model saved" line comes first; ours follow, in order.
    assert log_lines(page)[-3:] == ["epoch 1 done", "<script>alert(1)</script>", "epoch 2 done"]
    assert len(log_lines(page)) == 4
    assert "<script>" not in page
    # Everything fitted on one page and this is the newest one: no paging links.
    assert href(page, "Older lines") is None and href(page, "Newest lines") is None


async def test_the_full_url_of_a_link_works_too(site: Site, sim: AICoreSimulator) -> None:
    run_id = completed_run(sim)
    url = site.links.url_for("aicore", "default", run_id)
    assert url.startswith(PUBLIC_URL + "/logs/")
    response = await site.browser.get(url)
    assert response.status_code == 200


def tampered(path: str) -> str:
    sig = parse_qs(urlsplit(path).query)["sig"][0]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    return path.replace(sig, flipped)


def without_sig(path: str) -> str:
    return re.sub(r"&sig=[0-9a-f]+", "", path)


def expired_link(run_id: str) -> str:
    eight_days_ago = time.time() - 8 * 24 * 3600
    old = LogLinks(
        public_url=PUBLIC_URL, key=derive_key(SIGNING_SECRET), clock=lambda: eight_days_ago
    )
    return old.path_for("aicore", "default", run_id)


@pytest.mark.parametrize(
    "make_path",
    [
        pytest.param(
            lambda links, rid: tampered(links.path_for("aicore", "default", rid)), id="tampered"
        ),
        pytest.param(
            lambda links, rid: links.path_for("aicore", "default", "otherrun1").replace(
                "otherrun1", rid
            ),
            id="other-run-id",
        ),
        pytest.param(
            lambda links, rid: links.path_for("aicore", "other-rg", rid).replace(
                "other-rg", "default"
            ),
            id="other-scope",
        ),
        pytest.param(lambda links, rid: expired_link(rid), id="expired"),
        pytest.param(
            lambda links, rid: without_sig(links.path_for("aicore", "default", rid)),
            id="missing-sig",
        ),
        pytest.param(lambda links, rid: f"/logs/aicore/default/{rid}", id="no-query"),
        pytest.param(
            lambda links, rid: re.sub(
                r"exp=\d+", "exp=99999999999", links.path_for("aicore", "default", rid)
            ),
            id="extended-expiry",
        ),
    ],
)
async def test_a_bad_link_is_refused_with_403_and_no_ai_core_call(
    site: Site, sim: AICoreSimulator, make_path
) -> None:
    run_id = completed_run(sim)
    sim.add_logs(run_id, ["secret line"])
    path = make_path(site.links, run_id)
    before = list(sim.requests)

    response = await site.browser.get(path)

    assert response.status_code == 403
    assert_html_with_security_headers(response)
    assert "secret line" not in response.text
    assert run_id not in response.text
    assert sim.requests == before


async def test_older_lines_page_back_without_gaps_or_repeats(
    site: Site, sim: AICoreSimulator
) -> None:
    run_id = completed_run(sim)
    # One line a minute for over an hour: the newest page alone would hide the oldest ones
    # if the provider relied on the API's default one-hour window.
    seeded = []
    for i in range(70):
        sim.advance(60)
        seeded.append(f"line {i:02d}")
        sim.add_logs(run_id, [seeded[-1]])

    first = await site.browser.get(site.links.path_for("aicore", "default", run_id))
    assert first.status_code == 200
    assert log_lines(first.text) == seeded[-LINES_PER_PAGE:]
    assert href(first.text, "Newest lines") is None
    older = href(first.text, "Older lines")
    assert older is not None and older.startswith("?")
    assert parse_qs(older[1:])["before"][0].startswith("2025-01-06T")

    pages = [log_lines(first.text)]
    next_href: str | None = older
    while next_href is not None:
        assert len(pages) < 40, "paging does not terminate"
        response = await site.browser.get(f"/logs/aicore/default/{run_id}{next_href}")
        assert response.status_code == 200
        assert_html_with_security_headers(response)
        newest = href(response.text, "Newest lines")
        assert newest is not None and "before" not in newest
        pages.append(log_lines(response.text))
        next_href = href(response.text, "Older lines")

    second = pages[1]
    assert second and second[-1] < seeded[-LINES_PER_PAGE]  # strictly older than page one
    shown = [line for page in reversed(pages) for line in page]
    # Every line exactly once, oldest first: the simulator's own line(s) from creation, then
    # ours, including the ones older than an hour.
    assert shown[-len(seeded) :] == seeded
    assert len(shown) == len(set(shown)) == len(seeded) + 1


async def test_the_newest_lines_link_goes_back_to_the_first_page(
    site: Site, sim: AICoreSimulator
) -> None:
    run_id = completed_run(sim)
    for i in range(12):
        sim.advance(1)
        sim.add_logs(run_id, [f"line {i:02d}"])
    path = site.links.path_for("aicore", "default", run_id)
    first = (await site.browser.get(path)).text
    older = href(first, "Older lines")
    assert older is not None
    second = (await site.browser.get(f"/logs/aicore/default/{run_id}{older}")).text
    newest = href(second, "Newest lines")
    assert newest is not None
    again = await site.browser.get(f"/logs/aicore/default/{run_id}{newest}")
    assert log_lines(again.text) == log_lines(first)


async def test_a_malformed_before_is_a_400_after_the_signature_check(
    site: Site, sim: AICoreSimulator
) -> None:
    run_id = completed_run(sim)
    path = site.links.path_for("aicore", "default", run_id)
    before = list(sim.requests)
    response = await site.browser.get(path + "&before=<script>")
    assert response.status_code == 400
    assert_html_with_security_headers(response)
    assert "<script>" not in response.text
    assert sim.requests == before

    unsigned = await site.browser.get(f"/logs/aicore/default/{run_id}?before=nonsense")
    assert unsigned.status_code == 403


async def test_an_unknown_run_with_a_valid_link_is_a_404(site: Site, sim: AICoreSimulator) -> None:
    response = await site.browser.get(site.links.path_for("aicore", "default", "nosuchexec1"))
    assert response.status_code == 404
    assert_html_with_security_headers(response)
    assert "nosuchexec1" in response.text
    assert sim.calls("GET", "/lm/executions/nosuchexec1")


async def test_an_ai_core_failure_is_a_502_with_its_request_id(
    site: Site, sim: AICoreSimulator
) -> None:
    run_id = completed_run(sim)
    sim.inject_fault(status=500, path_prefix="/lm/executions", times=10)
    response = await site.browser.get(site.links.path_for("aicore", "default", run_id))
    assert response.status_code == 502
    assert_html_with_security_headers(response)
    assert "HTTP 500" in response.text


async def test_a_provider_that_is_not_configured_is_a_404(site: Site, sim: AICoreSimulator) -> None:
    response = await site.browser.get(site.links.path_for("bria", "bria", "model1"))
    assert response.status_code == 404
    assert sim.requests == []


async def test_the_newest_page_shows_the_runs_metric_chart(
    site: Site, sim: AICoreSimulator
) -> None:
    run_id = completed_run(sim)
    sim.set_metrics(
        run_id,
        [{"name": "loss", "step": s, "value": 1 / (s + 1)} for s in range(12)]
        + [{"name": "<b>acc</b>", "step": s, "value": s / 12} for s in range(12)],
    )
    path = site.links.path_for("aicore", "default", run_id)
    page = (await site.browser.get(path)).text
    found = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert found is not None
    assert base64.b64decode(found.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<figcaption>&lt;b&gt;acc&lt;/b&gt;, loss, up to step 11</figcaption>" in page
    assert page.index("<figure>") < page.index('<div class="log">')  # above the log


async def test_a_run_without_series_has_no_chart_and_unreadable_metrics_say_so(
    site: Site, sim: AICoreSimulator
) -> None:
    run_id = completed_run(sim)
    path = site.links.path_for("aicore", "default", run_id)
    assert "<figure>" not in (await site.browser.get(path)).text
    sim.inject_fault(status=500, path_prefix="/lm/metrics", times=10)
    page = (await site.browser.get(path)).text
    assert "<figure>" not in page and "The metrics could not be read" in page
    assert log_lines(page)  # the log is still there


async def test_a_chart_that_cannot_be_drawn_leaves_the_log_page_working(
    site: Site, sim: AICoreSimulator
) -> None:
    run_id = completed_run(sim)
    sim.set_metrics(
        run_id,
        [{"name": "loss", "step": 0, "value": 1e308}, {"name": "loss", "step": 1, "value": -1e308}],
    )
    response = await site.browser.get(site.links.path_for("aicore", "default", run_id))
    assert response.status_code == 200
    assert "The chart could not be drawn" in response.text and log_lines(response.text)
