"""Async client for Bria's tailored-generation training API (``/v1/tailored-gen/...``).

- ``api_token: <key>`` goes on every call as a header (never in a URL, never logged). Bria
  does not use ``Authorization: Bearer``.
- GET and DELETE are retried on 429/5xx/timeouts, honouring ``Retry-After`` (Bria documents
  none, but waiting it out costs nothing when a proxy sends one).
- ``start_training`` and ``stop_training`` are POSTs that must not run twice: only a 429 or a
  refused connection (Bria did nothing) is tried again. After an ambiguous failure (timeout,
  5xx) the model is looked up instead, and the answer is what its status says.
- Error answers become the bot's exceptions with a sentence per operation (``MESSAGES``).
  Bria documents no error body, so its text is read defensively and added when short.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final, Literal, TypeVar

import httpx
from pydantic import BaseModel, SecretStr

from bot.errors import ProviderError, ProviderUnavailable, error_for_status
from bot.http import (
    RetryableResponse,
    RetryPolicy,
    parse_model,
    read_json,
    send_with_retries,
    unavailable,
    unreadable,
)
from bot.providers.bria.models import Dataset, TailoredModel

__all__ = ["ANY_OPERATION", "MESSAGES", "BriaClient", "Operation", "bria_text", "message_for"]

log = logging.getLogger(__name__)

PROVIDER: Final = "bria"
LABEL: Final = "Bria"
TOKEN_HEADER: Final = "api_token"
# Longer texts are usually HTML error pages or stack traces: not worth a Slack line.
MAX_BRIA_TEXT: Final = 300

Operation = Literal[
    "list_models", "get_model", "get_dataset", "start_training", "stop_training", "delete_model"
]
ANY_OPERATION: Final = "*"

# What a user reads for each error answer, per operation; ANY_OPERATION rows apply to every
# operation without a row of its own. Placeholders: {model_id}, {dataset_id}.
MESSAGES: Final[Mapping[tuple[str, int], str]] = {
    (ANY_OPERATION, 400): "Bria rejected the request",
    ("start_training", 400): "Bria rejected the training parameters of model {model_id}",
    (ANY_OPERATION, 401): (
        "Bria refused the API token (BRIA_API_TOKEN): check that it is set and still valid"
    ),
    (ANY_OPERATION, 403): "Bria refused: your plan or quota does not allow this",
    ("get_model", 404): "Bria has no model {model_id}",
    ("start_training", 404): "Bria has no model {model_id}",
    ("stop_training", 404): "Bria has no model {model_id}",
    ("delete_model", 404): "Bria has no model {model_id}",
    ("get_dataset", 404): "Bria has no dataset {dataset_id}",
    ("start_training", 409): (
        "Model {model_id} is already training, or finished/stopped training "
        "(a stopped model cannot resume: create a new model)"
    ),
    ("stop_training", 409): "Model {model_id} is not training",
    ("delete_model", 409): "Model {model_id} is still training: stop it first",
    ("start_training", 412): (
        "The dataset of model {model_id} is not completed: mark it completed in Bria first"
    ),
    (ANY_OPERATION, 429): "Bria is rate-limiting requests: try again in a minute",
    (ANY_OPERATION, 500): "Bria had an internal error: try again later",
    (ANY_OPERATION, 502): "Bria is unavailable right now: try again later",
    (ANY_OPERATION, 503): "Bria is unavailable right now: try again later",
    (ANY_OPERATION, 504): "Bria is unavailable right now: try again later",
}

_T = TypeVar("_T", bound=BaseModel)


def message_for(operation: Operation, status: int, **context: object) -> str:
    """The sentence for ``status`` answered to ``operation`` (without Bria's own text)."""
    template = MESSAGES.get((operation, status)) or MESSAGES.get((ANY_OPERATION, status))
    if template is None:
        return f"Bria answered HTTP {status}"
    return template.format(**context)


def bria_text(response: httpx.Response) -> str | None:
    """Bria's own words from an error body, if short: JSON or plain text, any common shape."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
        text = response.text.strip()
        if text and not text.startswith("<"):
            body = text
    found = _text_of(body)
    if not found:
        return None
    found = " ".join(found.split())
    if len(found) > MAX_BRIA_TEXT or _is_reason_phrase(found, response.status_code):
        return None
    return found


class BriaClient:
    def __init__(
        self,
        *,
        token: SecretStr,
        base_url: str,
        http: httpx.AsyncClient,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._token = token
        self._base_url = base_url.rstrip("/")
        self._http = http
        self._retry = retry or RetryPolicy()

    # -- reading -------------------------------------------------------------------------------

    async def list_models(self, *, include_training_parameters: bool = True) -> list[TailoredModel]:
        """Every model of the account, in one call (Bria documents no paging)."""
        params = {"include_training_parameters": "true" if include_training_parameters else "false"}
        response = await self._call("list_models", "GET", "/tailored-gen/models", params=params)
        body = _json(response)
        if not isinstance(body, list):
            raise _unreadable(response, "a list of models was expected")
        return [_parse(TailoredModel, item, response) for item in body]

    async def get_model(self, model_id: int) -> TailoredModel:
        response = await self._call(
            "get_model", "GET", f"/tailored-gen/models/{model_id}", model_id=model_id
        )
        return _parse(TailoredModel, _json(response), response)

    async def get_dataset(self, dataset_id: int) -> Dataset:
        # max_images=1: the bot needs the status, not up to 200 image records.
        response = await self._call(
            "get_dataset",
            "GET",
            f"/tailored-gen/datasets/{dataset_id}",
            params={"max_images": "1"},
            dataset_id=dataset_id,
        )
        return _parse(Dataset, _json(response), response)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start_training(self, model_id: int, body: Mapping[str, Any]) -> TailoredModel:
        """Start training; ``body`` holds only the parameters to override (``{}`` for defaults).

        Answers the model as Bria returns it: ``InProgress`` with the resolved parameters.
        """
        path = f"/tailored-gen/models/{model_id}/start_training"
        try:
            response = await self._post_once("start_training", path, dict(body), model_id)
        except _Ambiguous as ambiguous:
            return await self._confirm_started(model_id, ambiguous.cause)
        return _parse(TailoredModel, _json(response), response)

    async def stop_training(self, model_id: int) -> str:
        """Ask Bria to stop; the model goes Stopping, then Stopped (it cannot be resumed)."""
        path = f"/tailored-gen/models/{model_id}/stop_training"
        try:
            response = await self._post_once("stop_training", path, None, model_id)
        except _Ambiguous as ambiguous:
            return await self._confirm_stopped(model_id, ambiguous.cause)
        # The 200 body is undocumented: Bria's words if any, else ours.
        return bria_text(response) or "Training stop requested"

    async def delete_model(self, model_id: int) -> None:
        path = f"/tailored-gen/models/{model_id}"
        exchange = await self._repeatable("delete_model", "DELETE", path, model_id=model_id)
        if exchange.response.status_code == 404 and exchange.attempts > 1:
            # An earlier attempt failed ambiguously and the model is gone now: that attempt
            # (or someone else) deleted it, which is what was asked.
            return
        self._raise_for_status("delete_model", exchange.response, model_id=model_id)

    # -- ambiguous POSTs -----------------------------------------------------------------------

    async def _confirm_started(self, model_id: int, cause: ProviderUnavailable) -> TailoredModel:
        model = await self._look_up(model_id, cause, "started training")
        # InProgress is where a start leads: our request (or one just like it) went through,
        # and either way the model is training as the user asked.
        if model.status == "InProgress":
            log.info("ambiguous start of Bria model %s did start it", model_id)
            return model
        raise _retold(cause, f"model {model_id} is {model.status}, so nothing was started")

    async def _confirm_stopped(self, model_id: int, cause: ProviderUnavailable) -> str:
        model = await self._look_up(model_id, cause, "stopped training")
        if model.status in {"Stopping", "Stopped"}:
            return f"Training of model {model_id} is {model.status.lower()}"
        raise _retold(cause, f"model {model_id} is {model.status}, so nothing was stopped")

    async def _look_up(
        self, model_id: int, cause: ProviderUnavailable, outcome: str
    ) -> TailoredModel:
        log.warning("Bria call for model %s was ambiguous (%s); looking it up", model_id, cause)
        try:
            return await self.get_model(model_id)
        except ProviderError:
            raise _retold(
                cause,
                f"Bria could not be asked whether model {model_id} {outcome}: "
                f"check `/bria status {model_id}` before trying again",
            ) from None

    # -- transport -----------------------------------------------------------------------------

    async def _call(
        self,
        operation: Operation,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        **context: object,
    ) -> httpx.Response:
        """A call that is safe to repeat; error answers raise the operation's exception."""
        exchange = await self._repeatable(operation, method, path, params=params, **context)
        self._raise_for_status(operation, exchange.response, **context)
        return exchange.response

    async def _repeatable(
        self,
        operation: Operation,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        **context: object,
    ) -> _Exchange:
        """Send with retries; what outlives them becomes the operation's exception."""
        try:
            return await self._exchange(method, path, params=params)
        except RetryableResponse as exc:
            raise self._error(operation, exc.response, context) from exc
        except httpx.TransportError as exc:
            raise unavailable(exc, provider=PROVIDER, label=LABEL) from exc

    async def _post_once(
        self, operation: Operation, path: str, body: dict[str, Any] | None, model_id: int
    ) -> httpx.Response:
        """A POST that is never repeated once it may have reached Bria.

        Raises ``_Ambiguous`` when Bria may or may not have acted (timeout, dropped
        connection, 5xx), and the operation's error for a clear refusal.
        """
        context = {"model_id": model_id}
        try:
            exchange = await self._exchange("POST", path, json_body=body, idempotent=False)
        except RetryableResponse as exc:  # a 429 that outlasted the waits: nothing was done
            raise self._error(operation, exc.response, context) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # never reached Bria
            raise unavailable(exc, provider=PROVIDER, label=LABEL) from exc
        except httpx.TransportError as exc:
            raise _Ambiguous(unavailable(exc, provider=PROVIDER, label=LABEL)) from exc
        response = exchange.response
        if response.status_code >= 500:
            error = self._error(operation, response, context)
            raise _Ambiguous(_as_unavailable(error))
        self._raise_for_status(operation, response, **context)
        return response

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> _Exchange:
        """Send with the retry policy; raises RetryableResponse or httpx.TransportError."""
        url = self._base_url + path
        headers = {TOKEN_HEADER: self._token.get_secret_value()}
        attempts = 0

        async def send() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            return await self._http.request(
                method, url, params=params, json=json_body, headers=headers
            )

        response = await send_with_retries(send, self._retry, retry_connect_only=not idempotent)
        return _Exchange(response, attempts)

    def _raise_for_status(
        self, operation: Operation, response: httpx.Response, **context: object
    ) -> None:
        if response.status_code >= 400:
            raise self._error(operation, response, context)

    @staticmethod
    def _error(
        operation: Operation, response: httpx.Response, context: Mapping[str, object]
    ) -> ProviderError:
        status = response.status_code
        message = message_for(operation, status, **context)
        text = bria_text(response)
        if text:
            message = f"{message} ({text})"
        return error_for_status(status)(
            message,
            status_code=status,
            request_id=response.headers.get("x-request-id"),
            provider=PROVIDER,
        )


# --- helpers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Exchange:
    response: httpx.Response
    attempts: int


class _Ambiguous(Exception):
    """A POST failed in a way that leaves open whether Bria acted on it."""

    def __init__(self, cause: ProviderUnavailable) -> None:
        super().__init__(cause.message)
        self.cause = cause


def _as_unavailable(error: ProviderError) -> ProviderUnavailable:
    if isinstance(error, ProviderUnavailable):
        return error
    return ProviderUnavailable(
        error.message, status_code=error.status_code, request_id=error.request_id, provider=PROVIDER
    )


def _retold(cause: ProviderUnavailable, outcome: str) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"{cause.message}; {outcome}",
        status_code=cause.status_code,
        request_id=cause.request_id,
        provider=PROVIDER,
    )


def _text_of(body: Any) -> str | None:
    if isinstance(body, str):
        return body.strip() or None
    if not isinstance(body, dict):
        return None
    for key in ("message", "error", "detail"):
        value = body.get(key)
        if isinstance(value, dict):
            value = value.get("message")
        if isinstance(value, str) and value.strip():
            return value
    # The shape Bria's own docs show for start-training validation errors.
    errors = body.get("errors") if isinstance(body.get("errors"), list) else body.get("detail")
    if isinstance(errors, list):
        parts = [_field_error(item) for item in errors if isinstance(item, dict)]
        return "; ".join(part for part in parts if part) or None
    return None


def _field_error(item: Mapping[str, Any]) -> str:
    field = item.get("field_name") or ".".join(str(p) for p in item.get("loc") or [] if p != "body")
    message = str(item.get("msg") or "").strip()
    return f"{field}: {message}" if field and message else message


def _is_reason_phrase(text: str, status: int) -> bool:
    try:
        return text.rstrip(".").lower() == HTTPStatus(status).phrase.lower()
    except ValueError:
        return False


def _json(response: httpx.Response) -> Any:
    return read_json(response, provider=PROVIDER, label=LABEL)


def _parse(model: type[_T], data: Any, response: httpx.Response) -> _T:
    return parse_model(model, data, response, provider=PROVIDER, label=LABEL)


def _unreadable(response: httpx.Response, why: str) -> ProviderError:
    return unreadable(response, why, provider=PROVIDER, label=LABEL)
