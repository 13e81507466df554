"""The log page behind alert links: ``GET /logs/{provider}/{scope}/{run_id}?exp=..&sig=..``.

Anyone holding the link can read the page, so the link itself is the credential: the
signature is checked before anything else, and a refused link costs no provider call. Log
lines are attacker-influenced text (a training script prints whatever it likes), so every
piece of run data and log text goes through :func:`html.escape`, and the response headers
forbid scripts and outside resources even if escaping were ever missed.
"""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot import charts
from bot.errors import InputError, NotFoundError, ProviderError
from bot.loglinks import LogLinks
from bot.providers.base import LogEntry, Provider, Run
from bot.service import Service

log = logging.getLogger(__name__)

DEFAULT_LINES_PER_PAGE = 200

SECURITY_HEADERS = {
    # The URL carries a signature: keep the page out of caches and the link out of Referer.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # Inline CSS and the chart (a data: image drawn here) are all the page needs: no
    # scripts, fonts, frames or outside images.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
}

# RFC 3339 date-time (``T`` or a space between date and time, as the RFC allows); checked
# before ``fromisoformat``, which would also take date-only and naive forms.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)

_STYLE = """
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", sans-serif;
       color: #1d1c1d; background: #f8f8f8; }
header { padding: 16px 24px; background: #fff; border-bottom: 1px solid #ddd; }
h1 { margin: 0 0 8px; font-size: 20px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dt { color: #616061; }
dd { margin: 0; overflow-wrap: anywhere; }
nav { padding: 8px 24px; display: flex; gap: 24px; }
nav a { color: #1264a3; }
main { padding: 0 24px 24px; }
.log { background: #1d1c1d; color: #e8e8e8; border-radius: 6px; padding: 12px 16px;
       font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.line { display: grid; grid-template-columns: 24ch 1fr; gap: 12px; }
.ts { color: #9a9a9a; white-space: nowrap; }
.msg { white-space: pre-wrap; overflow-wrap: anywhere; }
.empty { color: #616061; font-style: italic; }
figure { margin: 0 0 16px; background: #fff; border: 1px solid #ddd; border-radius: 6px;
         padding: 8px; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #616061; font-size: 13px; padding-top: 4px; }
"""


@dataclass(frozen=True)
class PageChart:
    """The run's metric chart on the newest page: the PNG, or why there is none."""

    png: bytes | None
    caption: str


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _stamp(moment: datetime | None) -> str:
    """UTC with milliseconds: log lines are often less than a second apart."""
    if moment is None:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _when(moment: datetime | None) -> str | None:
    return _stamp(moment)[:-4] + " UTC" if moment is not None else None


def render_log_page(
    *,
    run: Run,
    label: str,
    entries: Sequence[LogEntry],
    older_href: str | None,
    newer_href: str | None,
    chart: PageChart | None = None,
) -> str:
    """The whole HTML document for one page of a run's log, oldest line first."""
    facts: list[tuple[str, str | None]] = [
        ("Run", run.id),
        ("Status", run.status),
        ("Title", run.title),
        ("Scope", run.scope),
        ("Status message", run.status_message),
        ("Submitted", _when(run.submitted_at or run.created_at)),
        ("Completed", _when(run.completed_at)),
    ]
    details = "\n".join(
        f"<dt>{_esc(name)}</dt><dd>{_esc(value)}</dd>" for name, value in facts if value
    )
    links = []
    if older_href is not None:
        links.append(f'<a href="{_esc(older_href)}" rel="nofollow">&larr; Older lines</a>')
    if newer_href is not None:
        links.append(f'<a href="{_esc(newer_href)}" rel="nofollow">Newest lines &rarr;</a>')
    nav = f"<nav>{' '.join(links)}</nav>" if links else ""
    if entries:
        body = "\n".join(
            f'<div class="line"><span class="ts">{_esc(_stamp(e.timestamp))}</span>'
            f'<span class="msg">{_esc(e.message)}</span></div>'
            for e in entries
        )
    else:
        body = '<div class="empty">No log lines in this range.</div>'
    figure = ""
    if chart is not None and chart.png is not None:
        data = base64.b64encode(chart.png).decode("ascii")
        figure = (
            f'<figure><img src="data:image/png;base64,{data}" alt="Metric chart of '
            f'{_esc(run.id)}"><figcaption>{_esc(chart.caption)}</figcaption></figure>\n'
        )
    elif chart is not None:
        figure = f'<div class="empty">{_esc(chart.caption)}</div>\n'
    title = f"{label} run {run.id}: logs"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        f"<title>{_esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{_esc(title)}</h1>\n<dl>\n{details}\n</dl></header>\n"
        f'{nav}\n<main>{figure}<div class="log">\n{body}\n</div></main>\n{nav}\n'
        "</body>\n</html>\n"
    )


async def _chart(provider: Provider, run: Run) -> PageChart | None:
    """The chart the thread got (drawn again, as the run is now); None when nothing to draw."""
    if not provider.style.has_metrics:
        return None
    try:
        series = await provider.metric_series(run)
    except ProviderError as exc:
        return PageChart(None, f"The metrics could not be read: {exc.user_text()}")
    if not any(len(points) >= 2 for points in series.values()):
        return None
    try:
        png = await asyncio.to_thread(
            charts.render_png, series, title=f"{provider.label} run {run.id}: {run.status}"
        )
    except (ValueError, ArithmeticError):
        log.exception("could not draw the metrics of %s/%s", run.scope, run.id)
        return PageChart(None, "The chart could not be drawn from these metric values.")
    return PageChart(png, charts.caption(series, mrkdwn=False))


def _message_page(title: str, message: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_esc(title)}</title>\n"
        "<style>body { font-family: system-ui, sans-serif; margin: 32px; }</style>\n"
        f"</head>\n<body>\n<h1>{_esc(title)}</h1>\n<p>{_esc(message)}</p>\n</body>\n</html>\n"
    )


def _response(page: str, status_code: int = 200) -> Response:
    # HTMLResponse sets "text/html; charset=utf-8".
    return HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)


def _aware(moment: datetime) -> datetime:
    # Providers should send aware times; a naive one is taken as UTC rather than crashing
    # the comparison with ``before``.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def parse_before(raw: str | None) -> datetime | None:
    """The ``before`` query value as an aware UTC datetime; ValueError when malformed."""
    if raw is None or raw == "":
        return None
    text = raw.strip()
    if not _RFC3339.fullmatch(text):
        raise ValueError(f"not an RFC 3339 date-time: {raw!r}")
    # Python 3.11's fromisoformat takes "Z" and truncates fractions beyond microseconds.
    return datetime.fromisoformat(text.replace(" ", "T")).astimezone(UTC)


def format_before(moment: datetime) -> str:
    """``Z`` and microseconds: no ``+`` to escape, and no precision lost between pages."""
    return _aware(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log_page_route(
    service: Service, links: LogLinks, *, lines_per_page: int = DEFAULT_LINES_PER_PAGE
) -> Route:
    """The Starlette route serving signed log pages."""
    if lines_per_page < 1:
        raise ValueError("lines_per_page must be at least 1")

    async def log_page(request: Request) -> Response:
        provider_name = request.path_params["provider"]
        scope = request.path_params["scope"]
        run_id = request.path_params["run_id"]
        exp = request.query_params.get("exp")
        sig = request.query_params.get("sig")

        # First, before any parsing or provider call: an unsigned, retargeted or expired link
        # must learn nothing and cost nothing.
        if not links.verify(provider_name, scope, run_id, exp, sig):
            log.info("refused a log page link for %s/%s/%s", provider_name, scope, run_id)
            return _response(
                _message_page(
                    "Link not valid",
                    "This log link is invalid or has expired. "
                    "Ask the bot in Slack for a fresh one.",
                ),
                403,
            )
        assert exp is not None and sig is not None  # verify() refuses missing values

        try:
            before = parse_before(request.query_params.get("before"))
        except ValueError:
            return _response(
                _message_page("Bad request", "The before parameter must be an RFC 3339 date-time."),
                400,
            )

        try:
            provider = service.provider(provider_name)
        except InputError as exc:
            # A link signed while a provider was configured, which no longer is.
            return _response(_message_page("Not found", str(exc)), 404)
        try:
            run = await service.get(provider_name, scope, run_id)
            entries = await provider.logs_page(run, before=before, lines=lines_per_page)
        except NotFoundError:
            return _response(
                _message_page("Not found", f"There is no run {run_id} in {scope} any more."),
                404,
            )
        except ProviderError as exc:
            log.warning("log page for %s failed: %s", run_id, exc.user_text())
            return _response(
                _message_page(f"{provider.label} did not answer", exc.user_text()), 502
            )

        # A full page means there may be more; fewer lines means we reached the beginning.
        full_page = len(entries) >= lines_per_page
        if before is not None:
            # The contract is "strictly before"; a provider whose API treats the end of the
            # range as inclusive would repeat the previous page's oldest line(s), and a page
            # made only of such lines would link to itself forever. Dropping them avoids both.
            entries = [e for e in entries if e.timestamp is None or _aware(e.timestamp) < before]

        stamps = [_aware(e.timestamp) for e in entries if e.timestamp is not None]
        signed = {"exp": exp, "sig": sig}
        # Query-only relative links keep the path (and any prefix a reverse proxy adds).
        older_href = None
        if full_page and stamps:
            older_href = "?" + urlencode({**signed, "before": format_before(min(stamps))})
        newer_href = "?" + urlencode(signed) if before is not None else None
        page = render_log_page(
            run=run,
            label=provider.label,
            entries=entries,
            older_href=older_href,
            newer_href=newer_href,
            chart=await _chart(provider, run) if before is None else None,
        )
        return _response(page)

    return Route("/logs/{provider}/{scope}/{run_id}", log_page, methods=["GET"])
