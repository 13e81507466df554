"""``python -m bot [--role all|web|worker]``: the bot's entry point.

- ``--role web``: the Slack endpoint (HTTP, and Socket Mode when ``SLACK_APP_TOKEN`` is set),
  ``/healthz``, ``/metrics`` and the log pages. Listeners record jobs and acknowledge.
- ``--role worker``: the job runner, the poller and delivery (``/healthz`` and ``/metrics``
  on ``PORT`` too).
- ``--role all`` (the default): both, as two child processes of this one
  (:mod:`bot.supervisor`); ``--one-process`` runs both in this process instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Generator, Sequence
from typing import Any

import uvicorn

from bot.app import Components, build, check_policy, check_providers
from bot.errors import ConfigError
from bot.logging_setup import configure_logging
from bot.sandbox import wiring
from bot.settings import Settings, load_settings
from bot.supervisor import PARENT_ENV, Supervisor
from bot.web import build_web
from bot.worker import Heartbeat, Worker

log = logging.getLogger("bot")

NO_SLACK = (
    "No Slack credentials: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP mode), or "
    "SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode); without them only `python -m bot` "
    "(role all) runs, as the local sandbox; see README.md"
)
PARENT_WATCH_SECONDS = 1.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the bot decides how to shut down."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument(
        "--role",
        choices=("all", "web", "worker"),
        default="all",
        help="web: the Slack endpoint; worker: jobs, poller and delivery; all: both",
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="with --role all: run web and worker in this one process",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# Acknowledgements cannot wait and the work after them can: where a worker shares a machine
# with a web process (python -m bot), the kernel lets the acknowledgements go first.
WORKER_NICENESS = 10


async def serve(settings: Settings, role: str, *, child: bool = False) -> None:
    if role == "worker" and hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)
    components = await build(settings, role=role)
    try:
        await _serve(settings, role, components, child=child)
    finally:
        await components.aclose()


async def _serve(settings: Settings, role: str, components: Components, *, child: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watch = asyncio.create_task(_watch_parent(stop)) if child else None
    # The policy's user groups, read now: every role checks rights (clicks run on workers).
    warming = asyncio.create_task(components.deps.guard.warm())
    slack_endpoint = role in ("all", "web")
    # A worker started by `python -m bot` leaves the port to its sibling, the web process.
    server, web = (
        (None, None)
        if role == "worker" and child
        else await _start_web(settings, role, components, slack_endpoint=slack_endpoint)
    )
    socket_mode: Any = None
    worker: Worker | None = None
    beat: asyncio.Task[None] | None = None
    try:
        if settings.socket_mode and slack_endpoint:
            socket_mode = await _connect_socket_mode(settings, components)
        if role in ("all", "worker"):
            worker = Worker(components)
            await worker.start()
        else:
            beat = asyncio.create_task(Heartbeat(components).run(stop))
        await stop.wait()
        log.info("shutting down (%s)", role)
    finally:
        if socket_mode is not None:
            await socket_mode.close_async()
        if worker is not None:
            await worker.stop()
        if beat is not None:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
            await Heartbeat(components).leave()
        if server is not None and web is not None:
            server.should_exit = True
            await web
        if watch is not None:
            watch.cancel()
        warming.cancel()
        (warmed,) = await asyncio.gather(warming, return_exceptions=True)
        if isinstance(warmed, Exception):
            log.error("reading the policy's user groups failed", exc_info=warmed)


async def _start_web(
    settings: Settings, role: str, components: Components, *, slack_endpoint: bool
) -> tuple[_Server, asyncio.Task[None]]:
    plan = wiring.active(os.environ, settings) if slack_endpoint else None
    sandbox = wiring.routes(plan, settings, components.http) if plan is not None else []
    # The sandbox takes unauthenticated clicks from its page: this machine only.
    host = wiring.LOCALHOST if plan is not None else "0.0.0.0"
    server = _Server(
        uvicorn.Config(
            build_web(components, slack_endpoint=slack_endpoint, extra_routes=sandbox),
            host=host,
            port=settings.port,
            log_level="warning",
            lifespan="off",
            ws="none",
        )
    )
    # Bound here rather than by uvicorn, whose answer to a taken port is sys.exit.
    listener = _listen(settings.port, host)
    web = asyncio.create_task(server.serve(sockets=[listener]), name="web")
    while not server.started:
        if web.done():
            await web  # start-up failed: surface the error
            raise ConfigError(f"the web server did not start on PORT {settings.port}")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    log.info(
        "listening on http://127.0.0.1:%d (role %s, %s mode)",
        port,
        role,
        "Socket" if settings.socket_mode else "HTTP",
    )
    return server, web


async def _connect_socket_mode(settings: Settings, components: Components) -> Any:
    from bot.socket_mode import ScreenedSocketModeHandler

    assert settings.slack_app_token is not None
    handler = ScreenedSocketModeHandler(
        components.bolt, settings.slack_app_token.get_secret_value()
    )
    await handler.connect_async()  # type: ignore[no-untyped-call]
    log.info("connected to Slack in Socket Mode")
    return handler


async def _watch_parent(stop: asyncio.Event) -> None:
    """Stop when the parent is gone (where the kernel cannot be asked to signal it)."""
    parent = int(os.environ.get(PARENT_ENV) or os.getppid())
    while not stop.is_set():
        if os.getppid() != parent:
            log.warning("the parent process is gone; shutting down")
            stop.set()
            return
        await asyncio.sleep(PARENT_WATCH_SECONDS)


def _listen(port: int, host: str) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise ConfigError(f"cannot listen on PORT {port}: {exc.strerror}") from None
    listener.listen(2048)
    listener.setblocking(False)
    return listener


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings)
        if not settings.has_slack_credentials:
            if args.role != "all" or args.child:
                log.error(NO_SLACK)
                return 2
            url = wiring.prepare(os.environ, settings)
            settings = load_settings()
            configure_logging(settings)  # the sandbox's secrets are secrets too
            plan = wiring.active(os.environ, settings)
            assert plan is not None
            log.info(wiring.banner(url, plan))
        elif not args.child:
            os.environ.pop(wiring.SANDBOX_ENV, None)  # real credentials: no sandbox, ever
        check_providers(settings)
        if not args.child:
            check_policy(settings)
        if args.role == "all" and not args.one_process and not args.child:
            return Supervisor().run()
        asyncio.run(serve(settings, args.role, child=args.child))
    except ConfigError as exc:
        logging.basicConfig()
        log.error("cannot start: %s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
