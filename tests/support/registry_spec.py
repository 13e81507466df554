"""Check prompt-registry traffic against SAP's published OpenAPI document for it.

The companion of ``tests/support/aicore_spec.py``, whose loader, in-memory adaptation and
error reporting it reuses (the relative ``/v2`` server, which this document needs all the
more since it declares none). Like that one, the document's licence forbids copying it into
this repository: it is read at test time from the shared folder beside the project
(``<workspace>/shared/specs/prompt-registry.yaml``) or from ``PROMPT_REGISTRY_SPEC_PATH``;
when it is absent the calling test is skipped with a reason.

Public helpers (the same as aicore_spec's, for the other document):

``spec_path() -> Path``
    Where the document is looked for (``PROMPT_REGISTRY_SPEC_PATH`` wins).

``load_spec() -> openapi_core.OpenAPI``
    The parsed document, cached per process. Calls ``pytest.skip(...)`` if the file is missing.

``validate_exchange(request, response, *, check_request=True, check_response=True) -> None``
    Validate one httpx request/response pair with openapi-core (path, method, query and
    header parameters, response status and body); ``AssertionError`` listing the problems.
    The document declares no security scheme, so the bearer token is not checked here.

``assert_conforms(response, *, check_request=True) -> None``
    ``validate_exchange(response.request, response, ...)``.

``validate_schema(instance, component) -> None``
    Validate a decoded JSON value against ``#/components/schemas/<component>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_schema_validator import OAS30Validator

from tests.support import aicore_spec
from tests.support.openapi_httpx import OpenAPIRequest, OpenAPIResponse

__all__ = ["assert_conforms", "load_spec", "spec_path", "validate_exchange", "validate_schema"]

SPEC_ENV = "PROMPT_REGISTRY_SPEC_PATH"
_DEFAULT_SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "prompt-registry.yaml"


def spec_path() -> Path:
    """Where the registry document is looked for: ``$PROMPT_REGISTRY_SPEC_PATH`` or shared."""
    configured = os.environ.get(SPEC_ENV)
    return Path(configured).expanduser() if configured else _DEFAULT_SPEC


def load_spec() -> OpenAPI:
    """The parsed, adapted document (cached); skips the calling test if the file is absent."""
    return aicore_spec._load(_present())


def validate_exchange(
    request: httpx.Request,
    response: httpx.Response,
    *,
    check_request: bool = True,
    check_response: bool = True,
) -> None:
    """Validate an httpx request/response pair against the spec; AssertionError if not."""
    api = load_spec()
    adapted = OpenAPIRequest(request)
    problems: list[str] = []
    if check_request:
        problems += aicore_spec._errors(lambda: api.validate_request(adapted), "request")
    if check_response:
        problems += aicore_spec._errors(
            lambda: api.validate_response(adapted, OpenAPIResponse(response)), "response"
        )
    if problems:
        summary = f"{request.method} {request.url} -> {response.status_code}"
        raise AssertionError(
            f"{summary} does not conform to the prompt registry spec:\n" + "\n".join(problems)
        )


def assert_conforms(response: httpx.Response, *, check_request: bool = True) -> None:
    """``validate_exchange(response.request, response, check_request=check_request)``."""
    validate_exchange(response.request, response, check_request=check_request)


def validate_schema(instance: object, component: str) -> None:
    """Validate ``instance`` against ``#/components/schemas/<component>``; AssertionError if not."""
    components = aicore_spec._raw(_present())["components"]
    schema = {"$ref": f"#/components/schemas/{component}", "components": components}
    errors = sorted(OAS30Validator(schema).iter_errors(instance), key=str)
    if errors:
        details = "\n".join(f"  - {e.message} at {list(e.absolute_path)}" for e in errors)
        raise AssertionError(f"value does not match {component}:\n{details}")


def _present() -> Path:
    path = spec_path()
    if not path.is_file():
        pytest.skip(f"Prompt registry spec not found at {path}: conformance not checked")
    return path
