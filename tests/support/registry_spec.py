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
from openapi_core import OpenAPI

from tests.support import aicore_spec

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
    aicore_spec.check_exchange(
        load_spec(),
        "the prompt registry spec",
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
    aicore_spec.check_schema(_present(), instance, component)


def _present() -> Path:
    return aicore_spec.present(spec_path(), "Prompt registry spec")
