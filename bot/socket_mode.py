"""Socket Mode, with the payload's shape checked before Bolt reads it.

Over HTTP, :mod:`bot.inbound` refuses a body that Bolt's context building or listener matching
would raise on. Socket Mode envelopes come from Slack's authenticated websocket and skip that
route, so the same shape check runs here: an envelope that fails it is acknowledged (Slack
would otherwise redeliver it forever) and logged, and never reaches a listener.
"""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot import inbound

log = logging.getLogger(__name__)


class ScreenedSocketModeHandler(AsyncSocketModeHandler):
    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]  # as Bolt's own
        reason = _malformed(req)
        if reason is not None:
            log.info("acknowledged and dropped a %s envelope: %s", req.type, reason)
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        await super().handle(client, req)


def _malformed(req: SocketModeRequest) -> str | None:
    if not isinstance(req.payload, dict):
        return "its payload is not an object"
    try:
        inbound.check_shape(req.payload)
    except inbound.Malformed as exc:
        return str(exc)
    return None
