"""HTTP plumbing shared by the provider clients: timeouts, retries, error bodies.

Retries use tenacity: exponential backoff with jitter, except that a ``Retry-After`` header
(429 or 503) sets the wait. Only callers that know a request is safe to repeat ask for them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from bot.errors import ProviderError, ProviderUnavailable, error_for_status

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_CONNECTIONS = 500
MAX_IDLE_CONNECTIONS = 32

_M = TypeVar("_M", bound=BaseModel)


def default_timeout() -> httpx.Timeout:
    """Explicit limits: a slow provider must never hold a Slack answer or a poll cycle hostage."""
    return httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)


def new_http_client() -> httpx.AsyncClient:
    """The one long-lived client the process shares (connection reuse across calls)."""
    return httpx.AsyncClient(
        timeout=default_timeout(),
        # At 100 commands a second against a provider that takes 2 s, a few hundred calls are in
        # flight: a small pool makes them queue, and httpcore's queue bookkeeping then costs
        # more CPU than the calls themselves. But httpcore looks at every pooled connection on
        # every request (a syscall each, encode/httpcore#1035): hundreds of idle ones left from
        # a burst made each call of a quiet poll cycle cost milliseconds of CPU. So only a few
        # idle connections are kept (bench/poll_scale.py measures both).
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_IDLE_CONNECTIONS
        ),
        headers={"User-Agent": "aicore-chatops/0.1"},
    )


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    # A Retry-After longer than this is not waited out: the caller hears "unavailable" and
    # the next poll cycle or the user tries again later.
    max_retry_after: float = 30.0
    # Injected by tests to record the waits instead of sleeping through them.
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)


class RetryableResponse(Exception):
    """An answer worth another try (429, 5xx); carries the response for the final error."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), None when absent."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    # "Full jitter": a random wait up to the exponential bound, so retries do not align.
    backoff = wait_random_exponential(multiplier=policy.initial_backoff, max=policy.max_backoff)

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RetryableResponse):
            after = retry_after_seconds(exc.response)
            if after is not None:
                return after
        return float(backoff(state))

    return wait


def _stop(policy: RetryPolicy) -> Callable[[RetryCallState], bool]:
    attempts = stop_after_attempt(policy.attempts)

    def stop(state: RetryCallState) -> bool:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RetryableResponse):
            after = retry_after_seconds(exc.response)
            if after is not None and after > policy.max_retry_after:
                return True
        return bool(attempts(state))

    return stop


async def send_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    policy: RetryPolicy,
    *,
    retry_connect_only: bool = False,
) -> httpx.Response:
    """Send, retrying 429/5xx and transport errors per ``policy``.

    ``retry_connect_only`` is for requests that must not be repeated once they may have
    reached the server (starting a run): only a refused connection or a 429 (the server
    refused the request before doing anything) is retried.
    """
    retry_on: tuple[type[BaseException], ...] = (
        (RetryableResponse, httpx.ConnectError)
        if retry_connect_only
        else (RetryableResponse, httpx.TransportError)
    )
    retrying = AsyncRetrying(
        stop=_stop(policy),
        wait=_wait(policy),
        retry=retry_if_exception_type(retry_on),
        reraise=True,
        sleep=policy.sleep,
        before_sleep=_log_retry,
    )
    async for attempt in retrying:
        with attempt:
            response = await send()
            if response.status_code in RETRY_STATUSES:
                if retry_connect_only and response.status_code != 429:
                    return response  # the caller decides: the request may have been processed
                raise RetryableResponse(response)
            return response
    raise AssertionError("unreachable: tenacity either returns or reraises")


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    exc = outcome.exception() if outcome is not None else None
    log.warning(
        "retrying after %s (attempt %d)", type(exc).__name__ if exc else "?", state.attempt_number
    )


def provider_error(response: httpx.Response, *, provider: str, label: str) -> ProviderError:
    """Turn an error response into our exception, keeping code, message and requestId.

    AI Core answers ``{"error": {code, message, requestId}}``; Bria documents no error body,
    so plain text and other JSON shapes are read too.
    """
    code: str | None = None
    request_id: str | None = response.headers.get("x-request-id")
    message = f"{label} answered HTTP {response.status_code}"
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = _str_or_none(error.get("code"))
            message = _str_or_none(error.get("message")) or message
            request_id = _str_or_none(error.get("requestId")) or request_id
        elif isinstance(error, str):
            message = error
        elif isinstance(body.get("message"), str):
            # The prompt registry's shape: {"request_id": ..., "message": ...}
            message = body["message"]
            request_id = _str_or_none(body.get("request_id")) or request_id
        elif isinstance(body.get("detail"), str):
            message = body["detail"]
    elif isinstance(body, str):
        message = body
    elif response.text and len(response.text) < 500 and not response.text.lstrip().startswith("<"):
        message = response.text.strip()
    cls = error_for_status(response.status_code)
    return cls(
        message,
        status_code=response.status_code,
        code=code,
        request_id=request_id,
        provider=provider,
    )


def unavailable(exc: Exception, *, provider: str, label: str) -> ProviderUnavailable:
    """A transport failure or an exhausted retry, in words a user can act on."""
    if isinstance(exc, RetryableResponse):
        error = provider_error(exc.response, provider=provider, label=label)
        return ProviderUnavailable(
            f"{label} is unavailable right now ({error.message})",
            status_code=error.status_code,
            code=error.code,
            request_id=error.request_id,
            provider=provider,
        )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderUnavailable(f"{label} did not answer in time", provider=provider)
    return ProviderUnavailable(
        f"{label} could not be reached ({type(exc).__name__})", provider=provider
    )


def _str_or_none(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def unreadable(response: httpx.Response, why: str, *, provider: str, label: str) -> ProviderError:
    """An answer that is not what the API documents: our error, not a crash of the caller."""
    return ProviderError(
        f"{label} sent an answer the bot could not read ({why})",
        status_code=response.status_code,
        request_id=response.headers.get("x-request-id"),
        provider=provider,
    )


def read_json(response: httpx.Response, *, provider: str, label: str) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise unreadable(response, "the body is not JSON", provider=provider, label=label) from None


def parse_model(
    model: type[_M], data: Any, response: httpx.Response, *, provider: str, label: str
) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        why = f"{exc.error_count()} field error(s)"
        raise unreadable(response, why, provider=provider, label=label) from None
