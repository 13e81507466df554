"""Plumbing shared by the provider simulators (AI Core, Bria): clocks, recorded requests,
injected faults, route tables and the Starlette catch-all app.

Only the mechanics live here. What a simulator answers (error bodies, authentication,
statuses) and which paths an injected fault reaches stay in each simulator, because those
are the parts that differ between the APIs being imitated.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Final, Generic, Protocol, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute
from starlette.types import ASGIApp

__all__ = [
    "DEFAULT_START",
    "METHODS",
    "Clock",
    "Fault",
    "FaultError",
    "FaultQueue",
    "ManualClock",
    "PathMatcher",
    "RecordedRequest",
    "RequestContext",
    "Route",
    "RouteMiss",
    "RouteTable",
    "SystemClock",
    "advance_clock",
    "catch_all_app",
    "pause",
    "select_calls",
    "strip_prefix",
]

DEFAULT_START: Final = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
"""Where a :class:`ManualClock` starts unless told otherwise."""

METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
"""The HTTP methods a simulator's catch-all route accepts (Starlette adds HEAD to GET)."""


# --- clocks -----------------------------------------------------------------------------------


class Clock(Protocol):
    """Anything with ``now()`` returning a timezone-aware UTC datetime."""

    def now(self) -> datetime: ...


class ManualClock:
    """Wall clock the tests control. now() returns a timezone-aware UTC datetime."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _as_utc(start) if start is not None else DEFAULT_START

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        # Going back in time would make derived statuses jump backwards: refuse it.
        if seconds < 0:
            raise ValueError(f"a clock only moves forward, got {seconds} seconds")
        self._now += timedelta(seconds=seconds)


class SystemClock:
    """Real UTC time, for the sandbox and benchmarks."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def advance_clock(clock: Clock, seconds: float) -> None:
    """Move ``clock`` forward; only a :class:`ManualClock` can be moved (TypeError otherwise)."""
    if not isinstance(clock, ManualClock):
        raise TypeError("advance() needs a ManualClock")
    clock.advance(seconds)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- recorded traffic -------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the simulator saw it (path without the API's version prefix)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    content_type: str | None

    @classmethod
    def of(cls, request: Request, path: str, body: bytes) -> RecordedRequest:
        """Record ``request`` under ``path``; header names are lower-cased."""
        return cls(
            method=request.method,
            path=path,
            query=dict(request.query_params),
            headers={key.lower(): value for key, value in request.headers.items()},
            body=body,
            content_type=request.headers.get("content-type"),
        )

    def json(self) -> Any:
        """The body parsed as JSON (convenience for assertions)."""
        return json.loads(self.body)


def select_calls(
    requests: Iterable[RecordedRequest], method: str, path: str | None = None
) -> list[RecordedRequest]:
    """The recorded requests with ``method`` (any case) and, if given, exactly ``path``."""
    wanted = method.upper()
    return [r for r in requests if r.method == wanted and (path is None or r.path == path)]


def strip_prefix(path: str, prefix: str) -> str:
    """``path`` without a leading ``prefix`` segment (``/v2/lm/x`` -> ``/lm/x`` for ``/v2``)."""
    return path[len(prefix) :] if path.startswith(prefix + "/") else path


async def pause(seconds: float) -> None:
    """Sleep for ``seconds`` if positive (simulated latency and fault delays)."""
    if seconds > 0:
        await asyncio.sleep(seconds)


# --- injected faults --------------------------------------------------------------------------


PathMatcher = Callable[[str | None, str], bool]
"""Whether a fault scoped to a path prefix (None: unscoped) applies to a request path."""

FaultError = Callable[["Fault"], Exception]
"""The exception a simulator raises to answer an injected fault in its own error shape."""


@dataclass
class Fault:
    """A failure waiting to happen: answer ``status`` (0: only wait ``delay`` seconds)."""

    status: int
    method: str | None
    path_prefix: str | None
    remaining: int
    retry_after: float | None
    delay: float
    message: str | None = None  # the error message to answer with, instead of the usual one

    @property
    def headers(self) -> dict[str, str]:
        """``Retry-After`` in seconds (fractions kept, so tests stay fast), if one was asked."""
        return {} if self.retry_after is None else {"Retry-After": f"{self.retry_after:g}"}

    @property
    def whole_second_headers(self) -> dict[str, str]:
        """``Retry-After`` as HTTP defines it, whole seconds (rounded up; under one: 0).

        Clients such as SAP's AI SDK parse nothing else."""
        if self.retry_after is None:
            return {}
        seconds = math.ceil(self.retry_after) if self.retry_after >= 1 else 0
        return {"Retry-After": str(seconds)}


class FaultQueue:
    """Injected faults in order; the first one matching a request fires.

    ``path_matches`` decides which paths a fault's ``path_prefix`` reaches (the method check
    is the same for every simulator); ``error`` builds what a firing fault raises.
    """

    def __init__(self, path_matches: PathMatcher, error: FaultError) -> None:
        self._path_matches = path_matches
        self._error = error
        self._faults: list[Fault] = []

    def inject(
        self,
        *,
        status: int,
        method: str | None = None,
        path_prefix: str | None = None,
        times: int = 1,
        retry_after: float | None = None,
        delay: float = 0.0,
        message: str | None = None,
    ) -> None:
        """Queue a fault for the next ``times`` matching requests (ValueError if invalid)."""
        if status != 0:
            HTTPStatus(status)  # raises ValueError for a code HTTP does not define
        if times < 1 or delay < 0:
            raise ValueError("times must be >= 1 and delay >= 0")
        self._faults.append(
            Fault(status, method, path_prefix, times, retry_after, delay, message=message)
        )

    def clear(self) -> None:
        """Forget every fault that has not fired yet."""
        self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching the request, used up once (dropped on its last time)."""
        fault = next((f for f in self._faults if self._matches(f, method, path)), None)
        if fault is not None:
            fault.remaining -= 1
            if fault.remaining == 0:
                self._faults.remove(fault)
        return fault

    async def apply(self, method: str, path: str) -> None:
        """Take the matching fault, wait its delay, then raise its error (unless status is 0)."""
        fault = self.take(method, path)
        if fault is None:
            return
        await pause(fault.delay)
        if fault.status != 0:
            raise self._error(fault)

    def _matches(self, fault: Fault, method: str, path: str) -> bool:
        if fault.method is not None and fault.method.upper() != method:
            return False
        return self._path_matches(fault.path_prefix, path)


# --- routing ----------------------------------------------------------------------------------


@dataclass
class RequestContext:
    """What a route handler gets: the request, its body, the clock's now and path parameters."""

    request: Request
    body: bytes
    now: datetime
    params: dict[str, str]

    @property
    def query(self) -> Mapping[str, str]:
        return self.request.query_params


ContextT = TypeVar("ContextT", bound=RequestContext)


@dataclass(frozen=True)
class Route(Generic[ContextT]):
    """``handler`` serves ``method`` on paths that ``pattern`` matches in full."""

    method: str
    pattern: re.Pattern[str]
    handler: Callable[[ContextT], Response]


RouteT = TypeVar("RouteT", bound=Route[Any])

RouteMiss = Callable[[str, str, list[str]], Exception]
"""The exception for a request no route serves: ``(method, path, allowed methods)``; no
allowed methods means no such resource (404), some means a wrong method (405)."""


class RouteTable(Generic[RouteT]):
    """Routes tried in order: the first whose pattern and method both match wins."""

    def __init__(self, routes: Iterable[RouteT], miss: RouteMiss) -> None:
        self._routes = list(routes)
        self._miss = miss

    def match(self, method: str, path: str) -> tuple[RouteT, dict[str, str]]:
        """The route serving the request and its named groups; raises ``miss(...)`` if none."""
        allowed: list[str] = []
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict()
            allowed.append(route.method)
        raise self._miss(method, path, allowed)


def catch_all_app(handler: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """A Starlette app sending every path and method in :data:`METHODS` to ``handler``."""
    return Starlette(routes=[StarletteRoute("/{path:path}", handler, methods=list(METHODS))])
