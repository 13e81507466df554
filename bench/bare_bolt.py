"""A bare Bolt app: what an acknowledgement costs when a listener does nothing but ack.

``python bench/bare_bolt.py PORT SLACK_API_URL [--process-before-response]`` serves
``/slack/events`` exactly as the bot does (Bolt's ``AsyncApp`` behind Starlette and uvicorn,
request verification on, its Web API client on the fake Slack, where Bolt checks its token
once) with one ``/aicore`` listener that acks at once. It is the floor the bot's
acknowledgement is measured against in ``bench/ack_latency.py``.
"""

from __future__ import annotations

import logging
import sys

import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SIGNING_SECRET = "test-signing-secret-0123456789"


def app(slack_api_url: str, *, process_before_response: bool) -> Starlette:
    bolt = AsyncApp(
        client=AsyncWebClient(token="xoxb-bench-token", base_url=slack_api_url),
        signing_secret=SIGNING_SECRET,
        process_before_response=process_before_response,
    )

    @bolt.command("/aicore")
    async def command(ack: AsyncAck) -> None:
        await ack()

    handler = AsyncSlackRequestHandler(bolt)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    port, slack_api_url = int(sys.argv[1]), sys.argv[2]
    served = app(slack_api_url, process_before_response="--process-before-response" in sys.argv)
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    uvicorn.run(served, host="127.0.0.1", port=port, log_level="warning", ws="none")
