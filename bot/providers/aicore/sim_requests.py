"""Reading the AI Core simulator's requests, and its error answers.

:class:`ApiError` is what a handler raises to answer with an AI API error body
(:func:`error_response`; the prompt registry's paths get the registry's shape); the token
endpoint answers in OAuth2's shape (:func:`oauth_error`). The parsers check a query parameter or
a body as the published spec declares it and raise a 400 otherwise. The id rule, the limits and
the error codes they use are here too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.providers import simkit
from bot.providers.aicore import registry_sim
from bot.providers.aicore.sim_model import EXECUTION_STATUSES, ExecutionFilter

__all__ = [
    "API_PREFIX",
    "CODE_BAD_REQUEST",
    "CODE_EXECUTION_NOT_FOUND",
    "CODE_METHOD",
    "CODE_NOT_FOUND",
    "CODE_PRECONDITION",
    "CODE_UNAUTHORIZED",
    "CODE_UNSUPPORTED_MEDIA",
    "ID",
    "ID_RULE",
    "ApiError",
    "bad_request",
    "basic_credentials",
    "bindings_problem",
    "bulk_items",
    "configuration_body",
    "error_response",
    "execution_filter",
    "id_list_param",
    "id_param",
    "injected",
    "int_param",
    "json_object",
    "name_filter",
    "no_route",
    "oauth_error",
    "select",
    "time_param",
]

API_PREFIX: Final = "/v2"
MAX_BULK_ITEMS: Final = 100
# Limits of a configuration's body and of $search, as the spec declares them.
MAX_BINDINGS: Final = 1000
MAX_NAME_CHARS: Final = 256
MAX_BINDING_KEY_CHARS: Final = 256
MAX_BINDING_VALUE_CHARS: Final = 5000
MAX_SEARCH_CHARS: Final = 80

ID_RULE: Final = r"^[\w.-]{4,64}$"
# ASCII because the spec's pattern is an ECMA regex, where \w means [A-Za-z0-9_]; fullmatch
# because Python's $ also matches before a trailing newline.
ID = re.compile(r"[\w.-]{4,64}", re.ASCII)
# A configuration name: letters, digits and _ (ASCII, as above), any whitespace (Unicode, as in
# ECMA), and the punctuation below; empty is allowed, 256 characters at most.
NAME_PUNCTUATION: Final = ".!?,;:[](){}<>\"'=+*/\\^&%@~$#|-"
_NAME = re.compile(r"[A-Za-z0-9_\s" + re.escape(NAME_PUNCTUATION) + "]*")
# RFC 3339 as AI Core sends and accepts it: whole seconds or any fraction, Z or an offset.
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE
)

# Error codes. SAP documents none except 01010020 (unknown id in a bulk PATCH, seen in SAP's
# own end-to-end tests); the others are descriptive placeholders, not real AI Core codes.
CODE_EXECUTION_NOT_FOUND: Final = "01010020"
CODE_BAD_REQUEST: Final = "InvalidRequest"
CODE_NOT_FOUND: Final = "NotFound"
CODE_PRECONDITION: Final = "PreconditionFailed"
CODE_UNAUTHORIZED: Final = "Unauthorized"
CODE_UNSUPPORTED_MEDIA: Final = "UnsupportedMediaType"
CODE_METHOD: Final = "MethodNotAllowed"


# --- errors -----------------------------------------------------------------------------------


class ApiError(Exception):
    """Raised by handlers; turned into an AI API error body by the dispatcher."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def bad_request(message: str) -> ApiError:
    return ApiError(400, CODE_BAD_REQUEST, message)


def injected(fault: simkit.Fault) -> ApiError:
    """The error an injected fault answers with."""
    phrase = HTTPStatus(fault.status).phrase
    return ApiError(
        fault.status,
        phrase.replace(" ", ""),
        fault.message or f"Injected fault: {phrase}",
        fault.whole_second_headers,
    )


def no_route(method: str, path: str, allowed: list[str]) -> ApiError:
    """404 for an unknown path, 405 (with Allow) for a known path and another method."""
    if allowed:
        message = f"{method} is not allowed on {API_PREFIX}{path}"
        return ApiError(405, CODE_METHOD, message, {"Allow": ", ".join(allowed)})
    return ApiError(404, CODE_NOT_FOUND, f"No resource at {API_PREFIX}{path}")


def error_response(error: ApiError, request_id: str, path: str) -> Response:
    if path.startswith(API_PREFIX + "/") and registry_sim.serves(
        simkit.strip_prefix(path, API_PREFIX)
    ):
        # Token, routing and fault errors on the registry's paths come in its own shape.
        return registry_sim.error_response(error.status, error.message, request_id, error.headers)
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "requestId": request_id,
            "target": path,
        }
    }
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def oauth_error(status: int, error: str, description: str) -> Response:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    # RFC 6749 §2.3.1: id and secret are form-encoded before going into Basic auth.
    return unquote_plus(client_id), unquote_plus(secret)


# --- parsers ----------------------------------------------------------------------------------


def json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("Request body must be JSON") from None
    if not isinstance(payload, dict):
        raise bad_request("Request body must be a JSON object")
    return payload


def int_param(
    query: Mapping[str, str],
    name: str,
    *,
    default: int,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise bad_request(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def time_param(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None:
        return None
    parsed = _parse_rfc3339(raw)
    if parsed is None:
        raise bad_request(
            f"{name} must be an RFC 3339 date-time (send '+' in an offset as %2B), got {raw!r}"
        )
    return parsed


def id_param(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is not None and not ID.fullmatch(value):
        raise bad_request(f"{name} {value!r} does not match {ID_RULE}")
    return value


def id_list_param(query: Mapping[str, str], name: str) -> list[str] | None:
    """A comma-joined id list (``style: form, explode: false``), de-duplicated, in order."""
    raw = query.get(name)
    if raw is None:
        return None
    values = [value.strip() for value in raw.split(",") if value.strip()]
    for value in values:
        if not ID.fullmatch(value):
            raise bad_request(f"{name} item {value!r} does not match {ID_RULE}")
    return list(dict.fromkeys(values))


def select(query: Mapping[str, str]) -> bool:
    value = query.get("$select")
    if value is None:
        return False
    if value != "status":
        raise bad_request("$select supports only 'status'")
    return True


def execution_filter(query: Mapping[str, str]) -> ExecutionFilter:
    status = query.get("status")
    if status is not None and status not in EXECUTION_STATUSES:
        raise bad_request(f"status must be one of {', '.join(EXECUTION_STATUSES)}")
    executable_ids = id_list_param(query, "executableIds")
    return ExecutionFilter(
        status=status,
        configuration_id=id_param(query, "configurationId"),
        scenario_id=id_param(query, "scenarioId"),
        executable_ids=frozenset(executable_ids) if executable_ids is not None else None,
        schedule_id=id_param(query, "executionScheduleId"),
    )


def bulk_items(payload: dict[str, Any]) -> list[tuple[str, str]]:
    items = payload.get("executions")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BULK_ITEMS:
        raise bad_request(f"executions must be a list of 1 to {MAX_BULK_ITEMS} items")
    parsed: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, dict):
            raise bad_request("each item of executions must be an object")
        item_id, target = item.get("id"), item.get("targetStatus")
        if not isinstance(item_id, str) or not ID.fullmatch(item_id):
            raise bad_request(f"item id {item_id!r} does not match {ID_RULE}")
        if target not in {"STOPPED", "DELETED"}:
            raise bad_request(f"item {item_id}: targetStatus must be STOPPED or DELETED")
        parsed.append((item_id, str(target)))
    # The spec asks for unique items; we also refuse one id twice with different targets,
    # whose outcome would depend on processing order.
    if len({item_id for item_id, _ in parsed}) != len(parsed):
        raise bad_request("executions must not name the same id twice")
    return parsed


def name_filter(query: Mapping[str, str]) -> Callable[[str], bool]:
    """``$search`` (a substring of the name) and ``searchCaseInsensitive``, as a predicate."""
    search = query.get("$search")
    flag = query.get("searchCaseInsensitive", "false").lower()
    if flag not in {"true", "false"}:
        raise bad_request("searchCaseInsensitive must be true or false")
    if search is None:
        return lambda _name: True
    if not 1 <= len(search) <= MAX_SEARCH_CHARS or "~" in search:
        raise bad_request(f"$search must be 1 to {MAX_SEARCH_CHARS} characters other than '~'")
    if flag == "true":
        folded = search.casefold()
        return lambda name: folded in name.casefold()
    return lambda name: search in name


def configuration_body(
    payload: dict[str, Any],
) -> tuple[str, str, str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Name, scenario, executable, parameters and artifacts of a POST, checked as the spec
    checks them; 400 otherwise."""
    name = payload.get("name")
    if not isinstance(name, str):
        raise bad_request("name is required and must be a string")
    if len(name) > MAX_NAME_CHARS or not _NAME.fullmatch(name):
        raise bad_request(
            f"name must be at most {MAX_NAME_CHARS} letters, digits, _, whitespace or "
            f"{NAME_PUNCTUATION}"
        )
    ids = []
    for field_name in ("scenarioId", "executableId"):
        value = payload.get(field_name)
        if not isinstance(value, str) or not ID.fullmatch(value):
            raise bad_request(f"{field_name} is required and must match {ID_RULE}")
        ids.append(value)
    params = _binding_list(payload, "parameterBindings", "value")
    artifacts = _binding_list(payload, "inputArtifactBindings", "artifactId")
    problem = bindings_problem(params, artifacts)
    if problem is not None:
        raise bad_request(problem)
    return name, ids[0], ids[1], params, artifacts


def _binding_list(
    payload: dict[str, Any], field_name: str, value_name: str
) -> tuple[tuple[str, str], ...]:
    """The (key, value) pairs of an optional binding list; its shape checked, not its limits."""
    items = payload.get(field_name, [])
    if not isinstance(items, list):
        raise bad_request(f"{field_name} must be a list")
    pairs = []
    for item in items:
        key = item.get("key") if isinstance(item, dict) else None
        value = item.get(value_name) if isinstance(item, dict) else None
        if not isinstance(key, str) or not isinstance(value, str):
            raise bad_request(f"each item of {field_name} needs string key and {value_name}")
        pairs.append((key, value))
    return tuple(pairs)


def bindings_problem(
    params: Sequence[tuple[str, str]], artifacts: Sequence[tuple[str, str]]
) -> str | None:
    """What the spec refuses in a configuration's bindings, or None."""
    for field_name, pairs in (("parameterBindings", params), ("inputArtifactBindings", artifacts)):
        if len(pairs) > MAX_BINDINGS:
            return f"{field_name} must have at most {MAX_BINDINGS} items"
        for key, _ in pairs:
            if len(key) > MAX_BINDING_KEY_CHARS:
                return f"{field_name}: a key must be at most {MAX_BINDING_KEY_CHARS} characters"
    for key, value in params:
        if len(value) > MAX_BINDING_VALUE_CHARS:
            return f"parameterBindings: the value of {key!r} exceeds {MAX_BINDING_VALUE_CHARS}"
    for key, artifact_id in artifacts:
        if not ID.fullmatch(artifact_id):
            return f"inputArtifactBindings: artifactId of {key!r} must match {ID_RULE}"
    return None


def _parse_rfc3339(text: str) -> datetime | None:
    found = _RFC3339.fullmatch(text.strip())
    if found is None:
        return None
    whole, fraction, zone = found.groups()
    # Python keeps microseconds; AI Core may send nanoseconds.
    micro = f".{(fraction or '0')[:6]:0<6}"
    zone = "+00:00" if zone.upper() == "Z" else zone
    try:
        return datetime.fromisoformat(whole + micro + zone).astimezone(UTC)
    except ValueError:
        return None
