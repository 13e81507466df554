"""The sandbox page's Block Kit renderer, in a real browser, on every block the bot draws.

Each builder's output is drawn by ``bot/sandbox/static/blockkit.js``: nothing may come out
as an unsupported block or element, every button and text must show, and provider text must
stay text (a ``<script>`` in a run's name never becomes an element).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot import blocks
from bot.blocks.home import home_view
from bot.blocks.start import StartForm, candidates_text, start_modal
from bot.providers.base import LogEntry, Outcome, Run, Target
from bot.sandbox.page import STATIC
from tests.support.browser import browser  # noqa: F401 - the fixture
from tests.support.runs import AICORE, BRIA, sample_run
from tests.support.servers import ServedApp

WHEN = datetime(2026, 11, 24, 10, tzinfo=UTC)
LINES = [LogEntry(WHEN, "step 1/10 loss=1.0"), LogEntry(WHEN, "CUDA out of memory")]
LINK = "http://127.0.0.1:3000/logs/aicore/default/e0001abc?exp=1&sig=ab"


def run(status: str, provider: Any = AICORE, **extra: Any) -> Run:
    return sample_run(status, provider, title="resnet <script>alert(1)</script>", **extra)


def everything_the_bot_draws() -> dict[str, list[dict[str, Any]]]:
    drawn: dict[str, list[dict[str, Any]]] = {}
    for status in ("PENDING", "RUNNING", "COMPLETED", "DEAD", "STOPPING", "STOPPED", "UNKNOWN"):
        drawn[f"card {status}"] = blocks.run_card(
            run(status, status_message="Pod OOMKilled"), style=AICORE.style, started_by="U1"
        )
    for status in ("Created", "InProgress", "Completed", "Failed"):
        drawn[f"bria card {status}"] = blocks.run_card(run(status, BRIA), style=BRIA.style)
    drawn["deleted card"] = blocks.run_card(run("DEAD"), style=AICORE.style, deleted=True)
    drawn["card with a note"] = blocks.run_card(run("RUNNING"), style=AICORE.style, note="hi")
    drawn["dead alert, link"] = blocks.alert_blocks(
        run("DEAD", status_message="OOM"), label="AI Core", kind="dead", entries=LINES, link=LINK
    )
    drawn["dead alert, button"] = blocks.alert_blocks(
        run("DEAD"), label="AI Core", kind="dead", logs_problem="timed out"
    )
    drawn["pending alert"] = blocks.alert_blocks(
        run("PENDING"), label="AI Core", kind="pending", waited_seconds=1000
    )
    drawn["confirmation"] = blocks.confirmation_blocks(
        action="delete",
        label="AI Core",
        eligible=[run("DEAD")],
        ineligible=[(run("RUNNING"), "stop it first")],
        missing=[("e0009zzz", "not found")],
        token="t0k",
        folded=1,
    )
    drawn["outcome"] = blocks.outcome_blocks(
        action="stop",
        label="AI Core",
        user_id="U1",
        outcomes=[
            Outcome("e0001abc", True, "scheduled"),
            Outcome("e0002abc", False, "no", code="409", request_id="req-1"),
        ],
    )
    drawn["stop then delete"] = blocks.stop_then_delete_offer(run("RUNNING"), AICORE.style)
    drawn["list"] = blocks.list_blocks(
        [run("RUNNING"), run("DEAD")], label="AI Core", scope="default", status=None
    )
    drawn["logs"] = blocks.logs_blocks(run("RUNNING"), LINES, label="AI Core", requested=50)
    drawn["logs modal"] = blocks.logs_modal(run("RUNNING"), LINES, label="AI Core", link=LINK)[
        "blocks"
    ]
    drawn["digest"] = blocks.digest_blocks("*12 changes*", [f"`e{n}` is DEAD" for n in range(12)])
    drawn["help"] = blocks.text_blocks(blocks.help_text("/aicore", "default"))
    drawn["bria help"] = blocks.text_blocks(blocks.help_text("/bria", "default"))
    form = StartForm(scope="default", channel="C1", response_url=None)
    drawn["start form"] = start_modal(form, label="AI Core")["blocks"]
    drawn["start form, picked"] = start_modal(form, label="AI Core", chosen=TARGET)["blocks"]
    drawn["candidates"] = blocks.text_blocks(
        candidates_text(
            label="AI Core",
            word="configuration",
            name="nightly",
            scope="default",
            candidates=[TARGET, TARGET],
            ambiguous=True,
        )
    )
    drawn["home"] = home_view(
        mine=[run("COMPLETED")],
        running=[run("RUNNING")],
        styles={"aicore": AICORE.style},
        default_scope="default",
    )["blocks"]
    return drawn


TARGET = Target(
    provider="aicore",
    scope="default",
    id="cfg1",
    name="<!channel> resnet",
    scenario="training",
    executable="trainer",
    parameters=(("epochs", "3"), ("learning_rate", "0.001")),
    artifacts=(("data", "art-0001"),),
)


RENDER = """
const [drawn, done] = [arguments[0], arguments[arguments.length - 1]];
import('/sandbox/static/blockkit.js').then(({ renderBlocks }) => {
  const ui = { state: { register() {} }, confirm: async () => true, act: async () => {} };
  const names = { users: { U1: 'alice' }, channels: {} };
  const out = {};
  for (const [name, blocks] of Object.entries(drawn)) {
    const node = renderBlocks(blocks, ui, names);
    document.body.append(node);
    out[name] = {
      unsupported: [...node.querySelectorAll('.bk-unsupported')].map((n) => n.textContent),
      text: node.textContent,
      buttons: [...node.querySelectorAll('button')].map((b) => b.textContent),
      inputs: node.querySelectorAll('.bk-input-block').length,
      scripts: node.querySelectorAll('script').length,
      links: [...node.querySelectorAll('a')].map((a) => a.getAttribute('href')),
    };
  }
  done(out);
}, (error) => done({ error: String(error) }));
"""


@pytest.fixture(scope="module")
def static_site() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/", lambda _request: HTMLResponse("<!doctype html><body></body>")),
            Mount("/sandbox/static", app=StaticFiles(directory=STATIC)),
        ]
    )
    with ServedApp(app) as server:
        yield server.url


def test_every_block_the_bot_draws_renders(browser: Any, static_site: str) -> None:  # noqa: F811
    browser.get(f"{static_site}/")
    drawn = everything_the_bot_draws()
    rendered = browser.execute_async_script(RENDER, drawn)
    assert "error" not in rendered, rendered
    for name, shown in rendered.items():
        assert shown["unsupported"] == [], name
        assert shown["scripts"] == 0, name
    assert rendered["card RUNNING"]["buttons"] == ["Stop", "Logs", "Refresh"]
    assert rendered["card DEAD"]["buttons"] == [
        "Delete",
        "Logs",
        "Refresh",
        "Re-run",
        "Re-run with changes",
    ]
    assert rendered["bria card Failed"]["buttons"] == ["Delete", "Refresh"]  # trained once
    assert rendered["start form"]["inputs"] == 2  # the resource group, and the picker
    assert rendered["start form, picked"]["inputs"] == 4  # ... and two parameters
    assert "@channel" not in rendered["start form, picked"]["text"]  # escaped: no ping
    assert "Start a run" in rendered["home"]["buttons"]
    # Slack reads <script> in mrkdwn as a control sequence and shows its words: so does the
    # page, which never makes an element of it.
    assert "alert(1)" in rendered["card RUNNING"]["text"]
    assert "@alice" in rendered["card RUNNING"]["text"]
    assert rendered["dead alert, link"]["links"] == [LINK]
    assert "CUDA out of memory" in rendered["dead alert, link"]["text"]
    assert rendered["confirmation"]["buttons"] == ["Confirm: delete 1", "Cancel"]
    assert "requestId" in rendered["outcome"]["text"]
    assert rendered["stop then delete"]["buttons"] == ["Stop, then delete"]
    assert "/aicore start" in rendered["help"]["text"]


MRKDWN = """
const [cases, done] = [arguments[0], arguments[arguments.length - 1]];
import('/sandbox/static/mrkdwn.js').then(({ mrkdwn }) => {
  const names = { users: { U1: 'alice' }, channels: { C1: 'ml' } };
  done(cases.map((text) => mrkdwn(text, names)));
}, (error) => done([String(error)]));
"""


def test_mrkdwn_is_drawn_as_slack_draws_it(browser: Any, static_site: str) -> None:  # noqa: F811
    browser.get(f"{static_site}/")
    cases = [
        "*bold* _italic_ ~strike~ `code`",
        "```line 1\nline <2>```",
        "> quoted\nnot quoted",
        "<https://example.com/a?b=1&c=2|the docs> and <@U1> in <#C1>",
        "<!date^1764000000^{date_short_pretty}|fallback> <!channel>",
        "<javascript:alert(1)|click> &lt;b&gt;not bold&lt;/b&gt; <script>",
    ]
    bold, code, quote, links, date, hostile = browser.execute_async_script(MRKDWN, cases)
    assert bold == "<b>bold</b> <i>italic</i> <s>strike</s> <code>code</code>"
    assert code == '<pre class="code">line 1\nline &lt;2&gt;</pre>'
    assert quote.startswith("<blockquote>quoted</blockquote>") and "not quoted" in quote
    assert 'href="https://example.com/a?b=1&amp;c=2"' in links and ">the docs</a>" in links
    assert '<span class="mention">@alice</span>' in links and "#ml" in links
    assert "<time" in date and "@channel" in date
    assert "href" not in hostile and "<script>" not in hostile and "<b>" not in hostile
