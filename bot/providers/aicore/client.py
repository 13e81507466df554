"""Async client for the SAP AI Core AI API (``/v2/lm/...``) on one shared ``httpx.AsyncClient``.

- OAuth client-credentials tokens are cached and refreshed early; a 401 triggers one refresh
  and one retry.
- ``AI-Resource-Group`` goes on every call, logs included (the spec omits it there, every SDK
  sends it).
- GET, PATCH and DELETE are retried on 429/5xx/timeouts honouring ``Retry-After``; starting an
  execution is never retried blindly: after an ambiguous failure we look the run up instead.
  Creating a configuration is not retried blindly either (a retry could create a second one);
  its caller looks the configuration up by name instead.
- What the spec would refuse in a configuration search or creation is refused here first, as
  an :class:`~bot.errors.InputError` the user can act on, rather than as AI Core's 400.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel

from bot.errors import InputError, ProviderError, ProviderUnavailable
from bot.http import (
    RetryableResponse,
    RetryPolicy,
    parse_model,
    provider_error,
    read_json,
    send_with_retries,
    unavailable,
    unreadable,
)
from bot.logging_setup import redact
from bot.providers.aicore.models import (
    BulkResult,
    Configuration,
    ConfigurationList,
    CreatedConfiguration,
    CreatedExecution,
    Execution,
    ExecutionList,
    ExecutionMetrics,
    LogLine,
    PromptTemplate,
    PromptTemplateList,
    bulk_updates_supported,
)
from bot.providers.base import Outcome
from bot.settings import AICoreCredentials

log = logging.getLogger(__name__)

LABEL = "AI Core"
BULK_LIMIT = 100
FALLBACK_CONCURRENCY = 8
# The API's own maximum: one page in all but the largest resource groups. The list has no
# ordering parameter, so offset paging over a changing result can skip or repeat a run; the
# poller never concludes anything from a run's absence without a GET (see bot.poll).
PAGE_SIZE = 100_000
LOGS_MAX_TOP = 5000
META_TTL_SECONDS = 600.0
# A run started by an ambiguous POST shows up with a createdAt close to our request; this
# tolerates clock skew between us and AI Core.
START_LOOKUP_SKEW = timedelta(seconds=60)

# The spec's limits on configurations (AiConfigurationBaseData and the $search parameter).
SEARCH_MAX_CHARS = 80
NAME_MAX_CHARS = 256
MAX_BINDINGS = 1000
BINDING_KEY_MAX_CHARS = 256
BINDING_VALUE_MAX_CHARS = 5000
# Besides letters, digits, underscore and whitespace, a configuration name may hold these.
NAME_PUNCTUATION = ".!?,;:[](){}<>\"'=+*/\\^&%@~$#|-"
# The spec's patterns are ECMA regexes: \w is ASCII there, \s any Unicode space (as in Python).
_NAME_CHARACTER = re.compile(r"[A-Za-z0-9_\s" + re.escape(NAME_PUNCTUATION) + "]")
_ID = re.compile(r"[A-Za-z0-9_.-]{4,64}")

TargetStatus = Literal["STOPPED", "DELETED"]
_Model = TypeVar("_Model", bound=BaseModel)


class _TokenCache:
    """One bearer token, refreshed ahead of expiry by min(60 min, half its lifetime)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    def current(self) -> str | None:
        return self._token if self._token and self._clock() < self._refresh_at else None

    def store(self, token: str, expires_in: float) -> None:
        margin = min(3600.0, expires_in / 2)
        self._token = token
        self._refresh_at = self._clock() + max(0.0, expires_in - margin)

    def invalidate(self, token: str) -> None:
        if self._token == token:
            self._token = None


class AICoreClient:
    def __init__(
        self,
        *,
        credentials: AICoreCredentials,
        http: httpx.AsyncClient,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._http = http
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._tokens = _TokenCache(clock)
        self._meta: dict[str, Any] | None = None
        self._meta_at = 0.0

    # -- auth --------------------------------------------------------------------------------

    async def _token(self) -> str:
        token = self._tokens.current()
        if token:
            return token
        async with self._tokens._lock:
            token = self._tokens.current()  # another task may have refreshed it meanwhile
            if token:
                return token
            return await self._fetch_token()

    async def _fetch_token(self) -> str:
        creds = self._credentials

        async def send() -> httpx.Response:
            return await self._http.post(
                creds.auth_url,
                data={"grant_type": "client_credentials", "client_id": creds.client_id},
                auth=(creds.client_id, creds.client_secret.get_secret_value()),
            )

        try:
            response = await send_with_retries(send, self._retry)
        except (httpx.TransportError, RetryableResponse) as exc:
            raise unavailable(exc, provider="aicore", label=f"{LABEL} authentication") from exc
        if response.status_code != 200:
            error = provider_error(response, provider="aicore", label=f"{LABEL} authentication")
            error.message = f"{LABEL} refused the bot's credentials ({error.message})"
            raise error
        body = response.json()
        token = str(body["access_token"])
        redact(token)  # from now on no log line shows it, whatever logs it
        self._tokens.store(token, float(body.get("expires_in", 3600)))
        return token

    # -- transport ---------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        resource_group: str | None,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        idempotent: bool = True,
        extra_headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = self._credentials.base_url + path
        for attempt in (1, 2):
            token = await self._token()
            headers = {"Authorization": f"Bearer {token}", **(extra_headers or {})}
            if resource_group is not None:
                headers["AI-Resource-Group"] = resource_group
            if content_type:
                headers["Content-Type"] = content_type

            async def send(headers: dict[str, str] = headers) -> httpx.Response:
                return await self._http.request(
                    method, url, params=params, json=json_body, content=content, headers=headers
                )

            try:
                response = await send_with_retries(
                    send, self._retry, retry_connect_only=not idempotent
                )
            except (httpx.TransportError, RetryableResponse) as exc:
                raise unavailable(exc, provider="aicore", label=LABEL) from exc
            if response.status_code == 401 and attempt == 1:
                # The token may have been revoked or expired early: refresh once, then retry.
                self._tokens.invalidate(token)
                continue
            if response.status_code >= 400:
                raise provider_error(response, provider="aicore", label=LABEL)
            return response
        raise AssertionError("unreachable")

    # -- capabilities ------------------------------------------------------------------------

    async def meta(self) -> dict[str, Any]:
        if self._meta is None or self._clock() - self._meta_at > META_TTL_SECONDS:
            response = await self._request("GET", "/lm/meta", resource_group=None)
            self._meta = self._json(response)
            self._meta_at = self._clock()
        assert self._meta is not None
        return self._meta

    async def bulk_supported(self) -> bool:
        try:
            return bulk_updates_supported(await self.meta())
        except ProviderError as exc:
            # /lm/meta is optional for runtimes (404 allowed): single calls always work.
            log.info("GET /lm/meta failed (%s); using single calls", exc.message)
            return False

    # -- executions --------------------------------------------------------------------------

    async def get_execution(self, resource_group: str, execution_id: str) -> Execution:
        response = await self._request(
            "GET", f"/lm/executions/{execution_id}", resource_group=resource_group
        )
        return self._parse(Execution, response)

    async def list_executions(
        self,
        resource_group: str,
        *,
        status: str | None = None,
        scenario_id: str | None = None,
        configuration_id: str | None = None,
        select_status: bool = False,
        page_size: int = PAGE_SIZE,
    ) -> list[Execution]:
        """Every matching execution (each once, however the pages fell)."""
        found: dict[str, Execution] = {}
        async for page in self.execution_pages(
            resource_group,
            status=status,
            scenario_id=scenario_id,
            configuration_id=configuration_id,
            select_status=select_status,
            page_size=page_size,
        ):
            for execution in page:
                found.setdefault(execution.id, execution)
        return list(found.values())

    async def execution_pages(
        self,
        resource_group: str,
        *,
        status: str | None = None,
        scenario_id: str | None = None,
        configuration_id: str | None = None,
        select_status: bool = False,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[list[Execution]]:
        """Matching executions a page at a time (``$top``/``$skip``), until a short page.

        ``select_status`` asks for the reduced records (id, status, configuration, times,
        status details): a tenth of the bytes, for polling.
        """
        params: dict[str, Any] = {"$top": page_size}
        for key, value in (
            ("status", status),
            ("scenarioId", scenario_id),
            ("configurationId", configuration_id),
            ("$select", "status" if select_status else None),
        ):
            if value:
                params[key] = value
        skip = 0
        while True:
            response = await self._request(
                "GET",
                "/lm/executions",
                resource_group=resource_group,
                params={**params, "$skip": skip},
            )
            page = self._parse(ExecutionList, response).resources
            yield page
            if len(page) < page_size:
                return
            skip += page_size

    async def count_executions(self, resource_group: str, *, status: str | None = None) -> int:
        params = {"status": status} if status else None
        response = await self._request(
            "GET", "/lm/executions/$count", resource_group=resource_group, params=params
        )
        text = response.text.strip().strip('"')  # text/plain, sometimes JSON: be lenient
        if not text.isdigit():
            raise self._unreadable(response, "a count was expected")
        return int(text)

    async def start_execution(self, resource_group: str, configuration_id: str) -> Execution:
        """Start a run. Never retried blindly: a retry could start a second training run."""
        requested_at = datetime.now(UTC)
        try:
            response = await self._request(
                "POST",
                "/lm/executions",
                resource_group=resource_group,
                json_body={"configurationId": configuration_id},
                idempotent=False,
            )
        except ProviderUnavailable as exc:
            return await self._find_started(resource_group, configuration_id, requested_at, exc)
        if response.status_code >= 500:
            ambiguous = provider_error(response, provider="aicore", label=LABEL)
            assert isinstance(ambiguous, ProviderUnavailable)
            return await self._find_started(
                resource_group, configuration_id, requested_at, ambiguous
            )
        created = self._parse(CreatedExecution, response)
        try:
            return await self.get_execution(resource_group, created.id)
        except ProviderError:
            # The run exists; a card with what the POST told us beats an error message.
            return Execution(
                id=created.id, status=created.status or "UNKNOWN", configuration_id=configuration_id
            )

    async def _find_started(
        self,
        resource_group: str,
        configuration_id: str,
        requested_at: datetime,
        cause: ProviderUnavailable,
    ) -> Execution:
        """After an ambiguous POST, find the run it may have started instead of posting again."""
        log.warning(
            "start of %s was ambiguous (%s); looking it up", configuration_id, cause.message
        )
        try:
            candidates = await self.list_executions(
                resource_group, configuration_id=configuration_id
            )
        except ProviderError:
            raise cause from None
        since = requested_at - START_LOOKUP_SKEW
        recent = [e for e in candidates if e.created_at is not None and e.created_at >= since]
        if not recent:
            raise ProviderUnavailable(
                f"{cause.message}; no new execution of `{configuration_id}` was found, "
                "so nothing was started. Try again.",
                status_code=cause.status_code,
                code=cause.code,
                request_id=cause.request_id,
            ) from None
        return max(recent, key=lambda e: e.created_at or since)

    async def stop_execution(self, resource_group: str, execution_id: str) -> str:
        response = await self._request(
            "PATCH",
            f"/lm/executions/{execution_id}",
            resource_group=resource_group,
            json_body={"targetStatus": "STOPPED"},
        )
        return str(self._object(response).get("message") or "Stop scheduled")

    async def delete_execution(self, resource_group: str, execution_id: str) -> str:
        response = await self._request(
            "DELETE", f"/lm/executions/{execution_id}", resource_group=resource_group
        )
        return str(self._object(response).get("message") or "Deletion scheduled")

    async def modify_many(
        self, resource_group: str, execution_ids: Sequence[str], target: TargetStatus
    ) -> list[Outcome]:
        """Stop or delete many: one bulk PATCH per 100 where supported, else single calls."""
        ids = list(dict.fromkeys(execution_ids))
        if not ids:
            return []
        if len(ids) > 1 and await self.bulk_supported():
            outcomes: list[Outcome] = []
            for start in range(0, len(ids), BULK_LIMIT):
                outcomes += await self._bulk(
                    resource_group, ids[start : start + BULK_LIMIT], target
                )
            return outcomes
        return await self._one_by_one(resource_group, ids, target)

    async def _bulk(
        self, resource_group: str, ids: list[str], target: TargetStatus
    ) -> list[Outcome]:
        body = {"executions": [{"id": i, "targetStatus": target} for i in ids]}
        response = await self._request(
            "PATCH",
            "/lm/executions",
            resource_group=resource_group,
            content=json.dumps(body).encode(),
            content_type="application/merge-patch+json",
        )
        result = self._parse(BulkResult, response)
        by_id = {item.id: item for item in result.executions}
        outcomes = []
        for execution_id in ids:
            item = by_id.get(execution_id)
            if item is None:
                outcomes.append(Outcome(execution_id, False, "AI Core did not report on it"))
            elif item.error is not None:
                outcomes.append(
                    Outcome(
                        execution_id,
                        False,
                        item.error.message or "refused",
                        code=item.error.code,
                        request_id=item.error.request_id,
                    )
                )
            else:
                outcomes.append(Outcome(execution_id, True, item.message or "scheduled"))
        return outcomes

    async def _one_by_one(
        self, resource_group: str, ids: list[str], target: TargetStatus
    ) -> list[Outcome]:
        semaphore = asyncio.Semaphore(FALLBACK_CONCURRENCY)
        act = self.stop_execution if target == "STOPPED" else self.delete_execution

        async def one(execution_id: str) -> Outcome:
            async with semaphore:
                try:
                    return Outcome(execution_id, True, await act(resource_group, execution_id))
                except ProviderError as exc:
                    return Outcome(
                        execution_id, False, exc.message, code=exc.code, request_id=exc.request_id
                    )

        return list(await asyncio.gather(*(one(i) for i in ids)))

    # -- logs, configurations, metrics ------------------------------------------------------

    async def get_logs(
        self,
        resource_group: str,
        execution_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        top: int = 1000,
        order: Literal["asc", "desc"] = "asc",
    ) -> list[LogLine]:
        params: dict[str, Any] = {"$top": max(1, min(top, LOGS_MAX_TOP)), "$order": order}
        if start is not None:
            params["start"] = _rfc3339(start)
        if end is not None:
            params["end"] = _rfc3339(end)
        response = await self._request(
            "GET",
            f"/lm/executions/{execution_id}/logs",
            resource_group=resource_group,
            params=params,
        )
        result = ((self._object(response)).get("data") or {}).get("result") or []
        return [
            parse_model(LogLine, item, response, provider="aicore", label=LABEL) for item in result
        ]

    async def tail_logs(
        self, resource_group: str, execution: Execution, lines: int
    ) -> list[LogLine]:
        """The last ``lines`` lines, oldest first.

        The API's default window is the last hour, so an older or failed run needs ``start``:
        we use its submission time (or creation time, a minute early).
        """
        newest_first = await self.get_logs(
            resource_group,
            execution.id,
            start=log_window_start(execution),
            top=lines,
            order="desc",
        )
        return list(reversed(newest_first))

    async def get_configuration(self, resource_group: str, configuration_id: str) -> Configuration:
        """One configuration, with its parameter and input artifact bindings."""
        response = await self._request(
            "GET", f"/lm/configurations/{configuration_id}", resource_group=resource_group
        )
        return self._parse(Configuration, response)

    async def list_configurations(
        self, resource_group: str, *, search: str | None = None, top: int = 500
    ) -> ConfigurationList:
        """The first ``top`` configurations of the group, and how many match in all.

        ``search`` keeps those whose name contains it, ignoring case (a user types a word of
        the name, not its exact spelling). A text the API would refuse (empty, longer than 80
        characters, or with a ``~``) is an :class:`InputError`, raised before any call.
        ``top`` is capped at the API's maximum rather than refused with a 400.
        """
        params: dict[str, Any] = {"$top": max(0, min(top, PAGE_SIZE))}
        if search is not None:
            _check_search(search)
            params["$search"] = search
            params["searchCaseInsensitive"] = "true"
        response = await self._request(
            "GET", "/lm/configurations", resource_group=resource_group, params=params
        )
        return self._parse(ConfigurationList, response)

    async def create_configuration(
        self,
        resource_group: str,
        *,
        name: str,
        scenario_id: str,
        executable_id: str,
        parameter_bindings: Sequence[tuple[str, str]],
        input_artifact_bindings: Sequence[tuple[str, str]],
    ) -> str:
        """Create a configuration and return its ID.

        Bindings are ``(key, value)`` and ``(key, artifact ID)`` pairs, sent in their order.
        What the spec refuses (name, IDs, the number and length of bindings) is an
        :class:`InputError` before any call. Never retried blindly, since a retry of a POST
        that did reach AI Core would create a second configuration: after a 5xx or a lost
        connection the :class:`ProviderUnavailable` reaches the caller, who looks the
        configuration up by name. A 201 whose ID cannot be read is just as ambiguous (it was
        created, under an ID we do not know), so it is raised the same way.
        """
        body = _configuration_body(
            name, scenario_id, executable_id, parameter_bindings, input_artifact_bindings
        )
        response = await self._request(
            "POST",
            "/lm/configurations",
            resource_group=resource_group,
            json_body=body,
            idempotent=False,
        )
        try:
            return self._parse(CreatedConfiguration, response).id
        except ProviderError as exc:
            raise ProviderUnavailable(
                f"{exc.message}; the configuration may have been created",
                status_code=exc.status_code,
                request_id=exc.request_id,
            ) from None

    async def get_metrics(
        self, resource_group: str, execution_ids: Sequence[str]
    ) -> list[ExecutionMetrics]:
        results: list[ExecutionMetrics] = []
        ids = list(execution_ids)
        for start in range(0, len(ids), 10):  # the API takes at most 10 ids per call
            response = await self._request(
                "GET",
                "/lm/metrics",
                resource_group=resource_group,
                params={"executionIds": ",".join(ids[start : start + 10])},
            )
            for item in self._object(response).get("resources") or []:
                results.append(
                    parse_model(ExecutionMetrics, item, response, provider="aicore", label=LABEL)
                )
        return results

    async def find_prompt_templates(
        self,
        resource_group: str,
        *,
        scenario: str,
        name: str,
        version: str,
        resource_group_scoped: bool,
    ) -> list[PromptTemplate]:
        """The prompt registry's templates of that scenario, name and version.

        Tenant-wide templates by default; ``resource_group_scoped`` asks for the templates
        of ``resource_group`` instead (``AI-Resource-Group-Scope: true``), where a prompt
        optimization with ``promptTemplateScope=resourcegroup`` writes them.
        """
        response = await self._request(
            "GET",
            "/lm/promptTemplates",
            resource_group=resource_group,
            params={"scenario": scenario, "name": name, "version": version},
            extra_headers={"AI-Resource-Group-Scope": "true" if resource_group_scoped else "false"},
        )
        return self._parse(PromptTemplateList, response).resources

    # -- reading answers ---------------------------------------------------------------------

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        return read_json(response, provider="aicore", label=LABEL)

    def _object(self, response: httpx.Response) -> dict[str, Any]:
        body = self._json(response)
        if not isinstance(body, dict):
            raise self._unreadable(response, "a JSON object was expected")
        return body

    def _parse(self, model: type[_Model], response: httpx.Response) -> _Model:
        return parse_model(model, self._json(response), response, provider="aicore", label=LABEL)

    @staticmethod
    def _unreadable(response: httpx.Response, why: str) -> ProviderError:
        return unreadable(response, why, provider="aicore", label=LABEL)


def _check_search(text: str) -> None:
    if not 1 <= len(text) <= SEARCH_MAX_CHARS:
        raise InputError(
            f"A configuration search takes 1 to {SEARCH_MAX_CHARS} characters; "
            f"this one has {len(text)}."
        )
    if "~" in text:
        raise InputError("A configuration search cannot contain `~`: AI Core refuses it.")


def _configuration_body(
    name: str,
    scenario_id: str,
    executable_id: str,
    parameter_bindings: Sequence[tuple[str, str]],
    input_artifact_bindings: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """The POST body, after refusing what AI Core would refuse with a 400."""
    _check_name(name)
    for label, value in (("scenario", scenario_id), ("executable", executable_id)):
        if not _ID.fullmatch(value):
            raise InputError(
                f"`{value}` is not a valid {label} ID (4 to 64 letters, digits, `_`, `.` or `-`)."
            )
    _check_bindings("parameter", parameter_bindings, value_max=BINDING_VALUE_MAX_CHARS)
    _check_bindings("input artifact", input_artifact_bindings, value_max=None)
    for key, artifact_id in input_artifact_bindings:
        if not _ID.fullmatch(artifact_id):
            raise InputError(
                f"Input artifact `{key}`: `{artifact_id}` is not a valid artifact ID "
                "(4 to 64 letters, digits, `_`, `.` or `-`)."
            )
    return {
        "name": name,
        "scenarioId": scenario_id,
        "executableId": executable_id,
        "parameterBindings": [{"key": k, "value": v} for k, v in parameter_bindings],
        "inputArtifactBindings": [{"key": k, "artifactId": a} for k, a in input_artifact_bindings],
    }


def safe_name(text: str) -> str:
    """``text`` with every character a configuration name may not hold replaced by ``_``."""
    return "".join(c if _NAME_CHARACTER.fullmatch(c) else "_" for c in text)


def _check_name(name: str) -> None:
    # The spec allows an empty name, but the bot finds a configuration it may have created
    # (after an ambiguous POST) by its name, and a search needs at least one character.
    if not name.strip():
        raise InputError("A configuration needs a name.")
    if len(name) > NAME_MAX_CHARS:
        raise InputError(
            f"A configuration name has at most {NAME_MAX_CHARS} characters; "
            f"this one has {len(name)}."
        )
    refused = sorted({c for c in name if not _NAME_CHARACTER.fullmatch(c)})
    if refused:
        # A backtick or a control character inside backticks would garble Slack's formatting.
        shown = " ".join(f"`{c}`" if c.isprintable() and c != "`" else repr(c) for c in refused)
        raise InputError(
            "A configuration name may hold unaccented letters, digits, `_`, spaces and "
            f"`{NAME_PUNCTUATION}`; not {shown}."
        )


def _check_bindings(
    kind: str, bindings: Sequence[tuple[str, str]], *, value_max: int | None
) -> None:
    if len(bindings) > MAX_BINDINGS:
        raise InputError(
            f"A configuration takes at most {MAX_BINDINGS} {kind} bindings; "
            f"this one has {len(bindings)}."
        )
    for key, value in bindings:
        if len(key) > BINDING_KEY_MAX_CHARS:
            raise InputError(
                f"A {kind} name has at most {BINDING_KEY_MAX_CHARS} characters; "
                f"`{key[:40]}…` has {len(key)}."
            )
        if value_max is not None and len(value) > value_max:
            raise InputError(
                f"The value of {kind} `{key}` has at most {value_max} characters; "
                f"this one has {len(value)}."
            )


def log_window_start(execution: Execution) -> datetime:
    if execution.submission_time is not None:
        return execution.submission_time
    if execution.created_at is not None:
        return execution.created_at - timedelta(minutes=1)
    return datetime.now(UTC) - timedelta(days=30)


def _rfc3339(moment: datetime) -> str:
    # 'Z' rather than '+00:00': a '+' in a query string needs escaping the API is picky about.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
