"""Check AI API traffic against SAP's published OpenAPI document for AI Core.

The document's licence forbids copying it into this repository, so it is read at test time
from the shared folder beside the project (``<workspace>/shared/specs/aicore.yaml``) or from
``AICORE_SPEC_PATH``; when it is absent the calling test is skipped with a reason.

Public helpers (shared with the AI Core client tests):

``spec_path() -> Path``
    Where the document is looked for (``AICORE_SPEC_PATH`` wins).

``load_spec() -> openapi_core.OpenAPI``
    The parsed document, cached per process. Calls ``pytest.skip(...)`` if the file is missing.

``validate_exchange(request: httpx.Request, response: httpx.Response, *,
check_request: bool = True, check_response: bool = True) -> None``
    Validate one request/response pair with openapi-core: path, method, parameters (query,
    path, headers incl. the required ``AI-Resource-Group``), the bearer token, the request body,
    and the response status, headers and body. Raises ``AssertionError`` describing every
    problem. Pass ``check_request=False`` when a test sends an invalid request on purpose and
    only the error response should be checked. A status the document does not declare for
    the operation (e.g. 401, 415, 429 on most calls) is reported as a failure.

``assert_conforms(response: httpx.Response, *, check_request: bool = True) -> None``
    ``validate_exchange(response.request, response, ...)``.

``validate_schema(instance: object, component: str) -> None``
    Validate a decoded JSON value against ``#/components/schemas/<component>`` (for bodies of
    statuses the document does not declare, e.g. ``validate_schema(body["error"], "AiApiError")``).

How the document is adapted in memory (the file itself is never changed or copied):

- ``servers`` becomes the relative ``/v2``, so any host (``http://sim``, a real tenant) matches.
- openapi-core cannot check OAuth2 security schemes (it only warns, and warnings are errors
  here), so the ``Oauth2`` scheme is checked as "an ``Authorization: Bearer`` header is sent".
- openapi-core reads ``text/plain`` bodies as strings, which can never match the integer
  schema of the ``$count`` calls; integers in a ``text/plain`` body are read as integers.
- ``application/merge-patch+json`` (bulk PATCH) is read as JSON; openapi-core would otherwise
  hand the raw bytes to the object schema.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from openapi_core.security.exceptions import SecurityProviderError
from openapi_core.security.factories import SecurityProviderFactory
from openapi_core.security.providers import BaseProvider
from openapi_schema_validator import OAS30Validator

from tests.support.openapi_httpx import OpenAPIRequest, OpenAPIResponse

__all__ = ["assert_conforms", "load_spec", "spec_path", "validate_exchange", "validate_schema"]

SPEC_ENV = "AICORE_SPEC_PATH"
_DEFAULT_SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "aicore.yaml"
_INTEGER = re.compile(r"\s*-?\d+\s*")


def spec_path() -> Path:
    """Where the AI Core document is looked for: ``$AICORE_SPEC_PATH`` or the shared folder."""
    configured = os.environ.get(SPEC_ENV)
    return Path(configured).expanduser() if configured else _DEFAULT_SPEC


def load_spec() -> OpenAPI:
    """The parsed, adapted document (cached); skips the calling test if the file is absent."""
    return _load(present(spec_path(), "AI Core spec"))


def validate_exchange(
    request: httpx.Request,
    response: httpx.Response,
    *,
    check_request: bool = True,
    check_response: bool = True,
) -> None:
    """Validate an httpx request/response pair against the spec; AssertionError if not."""
    check_exchange(
        load_spec(),
        "the AI Core spec",
        request,
        response,
        check_request=check_request,
        check_response=check_response,
    )


def assert_conforms(response: httpx.Response, *, check_request: bool = True) -> None:
    """``validate_exchange(response.request, response, check_request=check_request)``."""
    validate_exchange(response.request, response, check_request=check_request)


def validate_schema(instance: object, component: str) -> None:
    """Validate ``instance`` against ``#/components/schemas/<component>``; AssertionError if not."""
    check_schema(present(spec_path(), "AI Core spec"), instance, component)


# --- shared with the other specs' modules (tests.support.registry_spec) -------------------------


def present(path: Path, name: str) -> Path:
    """``path``, or the calling test is skipped with the reason (the specs are not ours to ship)."""
    if not path.is_file():
        pytest.skip(f"{name} not found at {path}: conformance not checked")
    return path


def check_exchange(
    api: OpenAPI,
    name: str,
    request: httpx.Request,
    response: httpx.Response,
    *,
    check_request: bool,
    check_response: bool,
) -> None:
    """AssertionError listing every way the pair does not conform to ``api`` (``name``)."""
    adapted = OpenAPIRequest(request)
    problems: list[str] = []
    if check_request:
        problems += _errors(lambda: api.validate_request(adapted), "request")
    if check_response:
        problems += _errors(
            lambda: api.validate_response(adapted, OpenAPIResponse(response)), "response"
        )
    if problems:
        summary = f"{request.method} {request.url} -> {response.status_code}"
        raise AssertionError(f"{summary} does not conform to {name}:\n" + "\n".join(problems))


def check_schema(path: Path, instance: object, component: str) -> None:
    """AssertionError unless ``instance`` matches the document's schema ``component``."""
    components = _raw(path)["components"]
    schema = {"$ref": f"#/components/schemas/{component}", "components": components}
    errors = sorted(OAS30Validator(schema).iter_errors(instance), key=str)
    if errors:
        details = "\n".join(f"  - {e.message} at {list(e.absolute_path)}" for e in errors)
        raise AssertionError(f"value does not match {component}:\n{details}")


# --- loading ------------------------------------------------------------------------------------


@functools.cache
def _raw(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


@functools.cache
def _load(path: Path) -> OpenAPI:
    document = dict(_raw(path))
    document["servers"] = [{"url": "/v2"}]
    config = Config(
        security_provider_factory=_SecurityProviders(),
        extra_media_type_deserializers={
            "text/plain": _plain_or_integer,
            "application/merge-patch+json": _json,
        },
    )
    return OpenAPI.from_dict(document, config=config)


class _BearerProvider(BaseProvider):
    """Stands in for the OAuth2 scheme: a bearer token must be sent."""

    def __call__(self, parameters: RequestParameters) -> Any:
        scheme, _, token = str(parameters.header.get("Authorization", "")).partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise SecurityProviderError("Missing 'Authorization: Bearer <token>' header.")
        return token


class _SecurityProviders(SecurityProviderFactory):
    def __init__(self) -> None:
        # Per instance, so that openapi-core's shared default factory stays untouched.
        self.PROVIDERS = {**SecurityProviderFactory.PROVIDERS, "oauth2": _BearerProvider}


def _plain_or_integer(value: bytes, **parameters: str) -> Any:
    text = value.decode(parameters.get("charset", "utf-8"))
    return int(text) if _INTEGER.fullmatch(text) else text


def _json(value: bytes, **parameters: str) -> Any:
    return json.loads(value)


def _errors(check: Any, side: str) -> list[str]:
    try:
        check()
    except OpenAPIError as error:
        return [f"  {side}: {_describe(error)}"]
    return []


def _describe(error: BaseException) -> str:
    """The exception and its causes; schema errors hide the useful text in the cause chain."""
    parts = [f"{type(error).__name__}: {error}"]
    cause = error.__cause__
    while cause is not None:
        parts.append(f"caused by {type(cause).__name__}: {cause}")
        cause = cause.__cause__
    return "; ".join(parts)
