"""httpx requests and responses in the shape openapi-core validates (shared by the spec tests)."""

from __future__ import annotations

import httpx
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict


class OpenAPIRequest:
    def __init__(self, request: httpx.Request) -> None:
        self.method = request.method.lower()
        self.host_url = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
        self.path = request.url.path
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "").lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(request.url.params.multi_items()),
            header=Headers(request.headers.multi_items()),
        )


class OpenAPIResponse:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "").lower()
        self.headers = Headers(response.headers.multi_items())
        self.data: bytes | None = response.content
