"""The AI Core simulator and the fake Slack in a process of their own, for the benchmarks.

``python bench/fakes.py [--latency S] [--pace S] [--groups N]`` serves both on 127.0.0.1 and
prints one JSON line with their URLs and a control URL; it stops when stdin closes. Keeping
them out of the measured processes means the bot's CPU and memory are the bot's alone, and
the load client shares its interpreter with nobody.

Control API (JSON), served on the simulator's own port and thread (the simulator is not
shared between threads):
    POST /control/seed     {"groups": [...], "finished": n, "active": n}  pinned runs
    POST /control/start    {"groups": [...], "per_group": n}  runs that move on the clock
    POST /control/latency  {"seconds": s}             every AI Core call waits this long
    GET  /control/requests AI Core calls and response bytes since the last call, by route
    GET  /control/slack?since=n  Slack calls from n on: method, channel, arrival, error, text
    GET  /control/cpu      this process's CPU seconds
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections import Counter
from typing import Any

from common import ROOT  # noqa: F401 - puts the project root on sys.path
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.providers.aicore.simulator import AICoreSimulator, SystemClock
from tests.support.fake_slack import FakeSlack
from tests.support.servers import ServedApp

BOT_TOKEN = "xoxb-bench-token"
CONFIGURATION = "cfg-bench"
_ID_IN_PATH = re.compile(r"^(/v2/lm/executions/)(?!\$count$)[^/]+")


class Metered:
    """Counts requests and response bytes by route (the serving thread writes, others read)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].endswith("/oauth/token"):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode()
        path = _ID_IN_PATH.sub(r"\1{id}", scope["path"])
        route = f"{scope['method']} {path}" + (" ?status" if "status=" in query else "")

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.body":
                with self.lock:
                    self.bytes[route] += len(message.get("body", b""))
            await send(message)

        with self.lock:
            self.calls[route] += 1
        await self.app(scope, receive, counting)

    def take(self) -> dict[str, Any]:
        with self.lock:
            taken = {"calls": dict(self.calls), "bytes": dict(self.bytes)}
            self.calls.clear()
            self.bytes.clear()
        return taken


def control_app(sim: AICoreSimulator, meter: Metered, fake: FakeSlack) -> Starlette:
    async def seed(request: Request) -> JSONResponse:
        spec = await request.json()
        for group in spec["groups"]:
            sim.add_resource_group(group)
            sim.add_configuration(CONFIGURATION, resource_group=group)
            for _ in range(spec.get("finished", 0)):
                sim.add_execution(
                    configuration_id=CONFIGURATION, resource_group=group, status="COMPLETED"
                )
            for n in range(spec.get("active", 0)):
                sim.add_execution(
                    configuration_id=CONFIGURATION,
                    resource_group=group,
                    status="RUNNING" if n % 5 else "PENDING",
                )
        active = {
            g: [
                [i, sim.execution_status(i, g)]
                for i in sim.execution_ids(g)
                if sim.execution_status(i, g) != "COMPLETED"
            ]
            for g in spec["groups"]
        }
        return JSONResponse({"active": active})

    async def start(request: Request) -> JSONResponse:
        spec = await request.json()
        started = {
            group: [
                sim.add_execution(configuration_id=CONFIGURATION, resource_group=group)
                for _ in range(spec["per_group"])
            ]
            for group in spec["groups"]
        }
        return JSONResponse({"started": started, "at": time.monotonic()})

    async def latency(request: Request) -> JSONResponse:
        sim.latency = float((await request.json())["seconds"])
        return JSONResponse({})

    async def requests(_request: Request) -> JSONResponse:
        return JSONResponse(meter.take())

    async def slack(request: Request) -> JSONResponse:
        since = int(request.query_params.get("since", 0))
        calls = [
            {
                "method": c.method,
                "channel": c.args.get("channel"),
                "at": c.at,
                "error": c.error,
                "text": str(c.args.get("text") or ""),
            }
            for c in fake.calls[since:]
        ]
        return JSONResponse({"calls": calls, "refusals": fake.pacing_refusals})

    async def cpu(_request: Request) -> JSONResponse:
        return JSONResponse({"cpu": time.process_time()})

    return Starlette(
        routes=[
            Route("/control/seed", seed, methods=["POST"]),
            Route("/control/start", start, methods=["POST"]),
            Route("/control/latency", latency, methods=["POST"]),
            Route("/control/requests", requests),
            Route("/control/slack", slack),
            Route("/control/cpu", cpu),
        ]
    )


def both(simulator: ASGIApp, control: ASGIApp) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        target = control if scope.get("path", "").startswith("/control/") else simulator
        await target(scope, receive, send)

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--pace", type=float, default=0.0)
    parser.add_argument("--pending", type=float, default=3600.0)
    parser.add_argument("--running", type=float, default=3600.0)
    args = parser.parse_args()
    sim = AICoreSimulator(
        clock=SystemClock(), pending_seconds=args.pending, running_seconds=args.running
    )
    sim.add_configuration(CONFIGURATION)
    sim.latency = args.latency
    meter = Metered(sim.app)
    fake = FakeSlack(bot_token=BOT_TOKEN, pace_seconds=args.pace or None, response_url_limit=None)
    with (
        ServedApp(both(meter, control_app(sim, meter, fake))) as sim_server,
        ServedApp(fake.app) as slack_server,
    ):
        urls = {"sim": sim_server.url, "slack": slack_server.url}
        print(json.dumps(urls), flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin


if __name__ == "__main__":
    main()
