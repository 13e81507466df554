"""``python -m bot [--role all|web|worker]``: the bot's entry point."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Generator, Sequence

import uvicorn

from bot.app import Components, build, check_providers
from bot.errors import ConfigError
from bot.logging_setup import configure_logging
from bot.settings import Settings, load_settings
from bot.web import build_web
from bot.worker import Worker
from bot.workloop import WorkLoop, cancel_the_rest

log = logging.getLogger("bot")

SHUTDOWN_GRACE_SECONDS = 5.0
NO_SLACK = (
    "No Slack credentials: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP mode), or "
    "SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode); see README.md"
)


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
        help="web: Slack endpoint only; worker: poller and delivery; all: both",
    )
    return parser.parse_args(argv)


async def serve(settings: Settings, role: str) -> None:
    """Web on this loop; the work after acks, the worker and every client on the work loop."""
    work = WorkLoop()
    work.start()
    try:
        components = await work.run(build(settings, offload=work.run))
        try:
            await _serve(settings, role, components, work)
        finally:
            await work.run(cancel_the_rest())  # work whose listener gave up: end it cleanly
            await work.run(components.aclose())
    finally:
        work.stop()


async def _serve(settings: Settings, role: str, components: Components, work: WorkLoop) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = _Server(
        uvicorn.Config(
            build_web(components, slack_endpoint=role in ("all", "web")),
            host="0.0.0.0",
            port=settings.port,
            log_level="warning",
            lifespan="off",
            ws="none",
        )
    )
    # Bound here rather than by uvicorn, whose answer to a taken port is sys.exit.
    listener = _listen(settings.port)
    web = asyncio.create_task(server.serve(sockets=[listener]), name="web")
    socket_mode = None
    worker: Worker | None = None
    try:
        while not server.started:
            if web.done():
                await web  # start-up failed: surface the error
                return
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        log.info(
            "listening on http://127.0.0.1:%d (role %s, %s mode)",
            port,
            role,
            "Socket" if settings.socket_mode else "HTTP",
        )
        if settings.socket_mode and role in ("all", "web"):
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            assert settings.slack_app_token is not None
            socket_mode = AsyncSocketModeHandler(
                components.bolt, settings.slack_app_token.get_secret_value()
            )
            await socket_mode.connect_async()  # type: ignore[no-untyped-call]
        if role in ("all", "worker"):
            worker = await work.run(_start_worker(components))
        await stop.wait()
        log.info("shutting down")
    finally:
        if worker is not None:
            await work.run(worker.stop())
        if socket_mode is not None:
            await socket_mode.close_async()  # type: ignore[no-untyped-call]
        server.should_exit = True
        await web
        await _finish_listeners(SHUTDOWN_GRACE_SECONDS)


def _listen(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("0.0.0.0", port))
    except OSError as exc:
        listener.close()
        raise ConfigError(f"cannot listen on PORT {port}: {exc.strerror}") from None
    listener.listen(2048)
    listener.setblocking(False)
    return listener


async def _start_worker(components: Components) -> Worker:
    worker = Worker(components)
    worker.start()  # the scheduler and delivery attach to the loop this runs on
    return worker


async def _finish_listeners(grace: float) -> None:
    """Let after-ack work already running (a start, a stop) finish and answer its user."""
    pending = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
    if not pending:
        return
    _done, late = await asyncio.wait(pending, timeout=grace)
    if late:
        log.warning(
            "%d listener task(s) still running after %.0f s; stopping them", len(late), grace
        )
        await cancel_the_rest()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings)
        if not settings.has_slack_credentials:
            log.error(NO_SLACK)
            return 2
        check_providers(settings)
        asyncio.run(serve(settings, args.role))
    except ConfigError as exc:
        logging.basicConfig()
        log.error("cannot start: %s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
