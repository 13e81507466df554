"""Slack's Socket Mode side, as a fake: ``apps.connections.open``, the websocket, envelopes.

How it behaves (as slack_sdk's own mock server and Slack's documentation describe it):

* ``apps.connections.open`` with the app-level token answers a ``wss://`` URL (here ``ws://``
  on the fake's own port); each URL is good for one connection.
* On connect the server sends ``{"type": "hello", "num_connections": n, ...}``.
* :meth:`FakeSocketMode.send` puts a payload in an envelope (``envelope_id``, ``type`` one of
  ``slash_commands``, ``interactive``, ``events_api``, ``payload``,
  ``accepts_response_payload``, ``retry_attempt``, ``retry_reason``) and gives it to *one*
  of the open connections. The client acks with ``{"envelope_id": ..., "payload": ...}``.
* An envelope not acked within ``ack_timeout`` is delivered again (to any connection) with
  ``retry_attempt`` + 1 and ``retry_reason: "timeout"``, up to ``max_retries`` times.
* :meth:`FakeSocketMode.refresh` sends ``{"type": "disconnect", "reason":
  "refresh_requested"}``; a well-behaved client opens a new connection.

The websocket runs on the serving thread's event loop; tests call in from their own thread
or loop, so every change of shared state happens under one lock.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

__all__ = ["Delivery", "FakeSocketMode"]


@dataclass
class Delivery:
    """One time an envelope was given to a connection."""

    envelope_id: str
    connection: int
    retry_attempt: int


@dataclass
class _Connection:
    id: int
    websocket: WebSocket
    loop: asyncio.AbstractEventLoop
    open: bool = True


@dataclass
class _Envelope:
    envelope_id: str
    type: str
    payload: dict[str, Any]
    retry_attempt: int = 0
    acked: bool = False
    acks: list[dict[str, Any]] = field(default_factory=list)


class FakeSocketMode:
    def __init__(
        self,
        *,
        app_token: str = "xapp-1-A0TEST-0-fake",
        app_id: str = "A0TEST",
        ack_timeout: float = 3.0,
        max_retries: int = 3,
    ) -> None:
        self.app_token = app_token
        self.app_id = app_id
        self.ack_timeout = ack_timeout
        self.max_retries = max_retries
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._connections: dict[int, _Connection] = {}
        self._envelopes: dict[str, _Envelope] = {}
        self._deliveries: list[Delivery] = []
        self._ids = itertools.count(1)
        self._acks_to_drop = 0
        self.opened = 0  # apps.connections.open calls answered
        self.route = WebSocketRoute("/socket-mode/{ticket}", self._serve)

    # -- the Web API side --------------------------------------------------------------------

    def connections_open(self, token: str | None, base_url: str) -> dict[str, Any]:
        """``apps.connections.open``: a one-time URL, or Slack's error for a wrong token."""
        if token != self.app_token:
            return {"ok": False, "error": "invalid_auth" if token else "not_authed"}
        ticket = uuid.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
            self.opened += 1
        ws_base = base_url.replace("http://", "ws://", 1).rstrip("/")
        return {"ok": True, "url": f"{ws_base}/socket-mode/{ticket}"}

    # -- what tests do -----------------------------------------------------------------------

    @property
    def live_connections(self) -> int:
        with self._lock:
            return sum(1 for c in self._connections.values() if c.open)

    def send(self, envelope_type: str, payload: dict[str, Any]) -> str:
        """Give a payload to one open connection; returns its envelope id."""
        envelope = _Envelope(envelope_id=str(uuid.uuid4()), type=envelope_type, payload=payload)
        with self._lock:
            self._envelopes[envelope.envelope_id] = envelope
        self._deliver(envelope)
        return envelope.envelope_id

    def drop_next_acks(self, count: int = 1) -> None:
        """Lose the next ``count`` acks on the way (the client sent them; Slack never saw)."""
        with self._lock:
            self._acks_to_drop += count

    def refresh(self) -> None:
        """Ask every connection to reconnect (``disconnect`` with ``refresh_requested``)."""
        with self._lock:
            connections = [c for c in self._connections.values() if c.open]
        message = json.dumps({"type": "disconnect", "reason": "refresh_requested"})
        for connection in connections:
            self._send_text(connection, message)

    def acks(self, envelope_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._envelopes[envelope_id].acks)

    def acked(self, envelope_id: str) -> bool:
        with self._lock:
            return self._envelopes[envelope_id].acked

    def deliveries(self, envelope_id: str | None = None) -> list[Delivery]:
        with self._lock:
            return [
                d for d in self._deliveries if envelope_id is None or d.envelope_id == envelope_id
            ]

    # -- the websocket -----------------------------------------------------------------------

    async def _serve(self, websocket: WebSocket) -> None:
        ticket = websocket.path_params["ticket"]
        with self._lock:
            known = ticket in self._tickets
            self._tickets.discard(ticket)
        if not known:
            await websocket.close(code=4001)
            return
        await websocket.accept()
        connection = _Connection(next(self._ids), websocket, asyncio.get_running_loop())
        with self._lock:
            self._connections[connection.id] = connection
            count = sum(1 for c in self._connections.values() if c.open)
        await websocket.send_text(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": count,
                    "debug_info": {"host": "fake-socket-mode", "approximate_connection_time": 3600},
                    "connection_info": {"app_id": self.app_id},
                }
            )
        )
        try:
            while True:
                self._on_message(await websocket.receive_text(), connection)
        except WebSocketDisconnect:
            pass
        finally:
            with self._lock:
                connection.open = False

    def _on_message(self, text: str, connection: _Connection) -> None:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if not envelope_id:
            return
        with self._lock:
            envelope = self._envelopes.get(envelope_id)
            if envelope is None:
                return
            if self._acks_to_drop:
                self._acks_to_drop -= 1
                return
            envelope.acks.append({**message, "_connection": connection.id})
            envelope.acked = True

    def _deliver(self, envelope: _Envelope) -> None:
        with self._lock:
            open_connections = [c for c in self._connections.values() if c.open]
        if not open_connections:
            raise AssertionError("no Socket Mode connection is open")
        connection = random.choice(open_connections)
        with self._lock:
            self._deliveries.append(
                Delivery(envelope.envelope_id, connection.id, envelope.retry_attempt)
            )
        body = {
            "envelope_id": envelope.envelope_id,
            "type": envelope.type,
            "payload": envelope.payload,
            "accepts_response_payload": envelope.type != "events_api",
            "retry_attempt": envelope.retry_attempt,
            "retry_reason": "timeout" if envelope.retry_attempt else "",
        }
        self._send_text(connection, json.dumps(body))
        timer = threading.Timer(self.ack_timeout, self._redeliver_unacked, [envelope])
        timer.daemon = True
        timer.start()

    def _redeliver_unacked(self, envelope: _Envelope) -> None:
        with self._lock:
            if envelope.acked or envelope.retry_attempt >= self.max_retries:
                return
            envelope.retry_attempt += 1
        self._deliver(envelope)

    def _send_text(self, connection: _Connection, text: str) -> None:
        send = connection.websocket.send_text(text)
        future = asyncio.run_coroutine_threadsafe(send, connection.loop)
        try:
            future.result(timeout=5)
        except Exception:  # noqa: BLE001 - a connection that just closed: redelivery covers it
            with self._lock:
                connection.open = False
