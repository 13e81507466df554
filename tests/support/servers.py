"""Serve an ASGI app on a real TCP port from a background thread.

Tests use this to put fakes (e.g. :class:`tests.support.fake_slack.FakeSlack`) behind real
HTTP, so the bot's actual clients (aiohttp inside slack_sdk, httpx) exercise the whole path.
The server gets its own thread and event loop: it keeps answering while the test's loop is
blocked, and sync tests that drive a subprocess can use it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

__all__ = ["ServedApp", "free_port"]

_STARTUP_TIMEOUT_S = 10.0
_SHUTDOWN_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port that was free a moment ago (for processes that must be told a port upfront).

    Prefer ``ServedApp`` (port 0, no race) when the server runs in this process.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServedApp:
    """Context manager running ``app`` under uvicorn on ``host`` and an OS-chosen port."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", websockets: bool = False) -> None:
        self.app = app
        self.host = host
        self.websockets = websockets
        self.port: int = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("ServedApp is not running")
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> ServedApp:
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=0,
            log_level="warning",
            lifespan="off",
            # Pin pure-Python implementations: "auto" would pick websockets/uvloop when
            # installed, and the websockets legacy modules emit DeprecationWarnings that
            # pytest's filterwarnings=error turns into failures. wsproto for Socket Mode.
            ws="wsproto" if self.websockets else "none",
            http="h11",
            loop="asyncio",
            access_log=False,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=self._run, args=(server,), name=f"ServedApp-{id(self):x}", daemon=True
        )
        self._thread.start()

        # Poll instead of sleeping a fixed time: startup is usually a few milliseconds.
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError("uvicorn exited during startup") from self._error
            if time.monotonic() > deadline:
                server.should_exit = True
                self._thread.join(_SHUTDOWN_TIMEOUT_S)
                raise TimeoutError(f"uvicorn did not start within {_STARTUP_TIMEOUT_S}s")
            time.sleep(0.005)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            # Graceful: uvicorn notices the flag on its next tick (≤0.1 s) and drains.
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(_SHUTDOWN_TIMEOUT_S)
            if self._thread.is_alive():  # pragma: no cover - only on a wedged app
                assert self._server is not None
                self._server.force_exit = True
                self._thread.join(_SHUTDOWN_TIMEOUT_S)
        self._server = None
        self._thread = None
        self.port = 0

    def _run(self, server: uvicorn.Server) -> None:
        # A fresh loop per server thread: never share the test's loop across threads.
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(server.serve())
        # An exception escaping a thread becomes pytest's unhandled-thread-exception warning
        # (an error under filterwarnings=error) in some unrelated test; keep it and let
        # __enter__ raise it where the failure belongs.
        except BaseException as exc:  # noqa: BLE001
            self._error = exc
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
