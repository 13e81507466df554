"""Several ``python -m bot`` processes on one database, as a platform team runs them.

A :class:`Deployment` serves the AI Core simulator and the fake Slack on 127.0.0.1, starts
and SIGKILLs bot processes of any role, sends commands to any web process signed as Slack
signs them, and reads the database the processes share to know when they are done (no
pending job, no message left in the outbox), so that "exactly once" is counted only once
everything has been delivered.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bot.providers.aicore.simulator import AICoreSimulator
from tests.support.bolt import SIGNING_SECRET, flatten
from tests.support.fake_slack import FakeSlack, Message
from tests.support.process import BotProcess, SignedSlackClient, bot_env
from tests.support.servers import ServedApp

BOT_TOKEN = "xoxb-test-token"


@dataclass
class Deployment:
    sim: AICoreSimulator
    fake: FakeSlack
    database_url: str
    slack_url: str
    sim_url: str
    env: dict[str, str]
    processes: dict[str, BotProcess] = field(default_factory=dict)
    kills: int = 0
    _token: str | None = None

    def start_outside(self, configuration: str, *, resource_group: str) -> str:
        """Start a run as AI Launchpad would, over the simulator's API; returns its id."""
        with httpx.Client(base_url=self.sim_url, timeout=10) as http:
            if self._token is None:
                answer = http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=("sim-client", "sim-secret"),
                )
                self._token = str(answer.json()["access_token"])
            created = http.post(
                "/v2/lm/executions",
                json={"configurationId": configuration},
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "AI-Resource-Group": resource_group,
                },
            )
            created.raise_for_status()
            return str(created.json()["id"])

    # -- processes ---------------------------------------------------------------------------

    def start(self, name: str, *args: str) -> BotProcess:
        process = BotProcess(dict(self.env), args=args).start(timeout=60)
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL every process of ``name`` at once (a crashed pod)."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=15)
        self.kills += 1

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.stop()
        self.processes.clear()

    def web(self) -> BotProcess:
        """Any process that serves Slack (a load balancer's pick)."""
        webs = [p for p in self.processes.values() if "worker" not in p.args]
        return random.choice(webs)

    # -- Slack's side ------------------------------------------------------------------------

    def command(self, text: str, *, channel: str, user: str = "U123") -> tuple[int, str]:
        client = SignedSlackClient(
            self.web().url, SIGNING_SECRET, lambda: self.fake.response_url(self.slack_url)
        )
        try:
            response, url = client.command(text, channel=channel, user=user)
        finally:
            client.close()
        return response.status_code, url

    def visible_answers(self, url: str) -> list[str]:
        """What the user sees of the answers to one request: a ``replace_original``
        response replaces the message before it, as in Slack."""
        seen: list[str] = []
        for response in self.fake.responses_for(url):
            text = flatten(response)
            if response.get("replace_original") and seen:
                seen[-1] = text
            else:
                seen.append(text)
        return seen

    def cards(self, channel: str) -> list[Message]:
        return [
            m
            for m in self.fake.messages(channel, include_replies=False)
            if not m.ephemeral and m.thread_ts is None and m.blocks
        ]

    def replies(self, channel: str, card: Message) -> list[Message]:
        return self.fake.thread(channel, card.ts)

    # -- the shared database -----------------------------------------------------------------

    def pending(self) -> dict[str, Any]:
        """Work the processes have not finished: jobs, messages, and open follows."""
        engine = create_engine(_sync(self.database_url))
        try:
            with engine.connect() as connection:
                return {
                    "jobs": _count(connection, "jobs WHERE state IN ('queued', 'running')"),
                    "outbox": _count(
                        connection, "outbox WHERE delivered_at IS NULL AND failed_at IS NULL"
                    ),
                    "failed_outbox": _count(connection, "outbox WHERE failed_at IS NOT NULL"),
                    "failed_jobs": _count(connection, "jobs WHERE state = 'failed'"),
                    "errors": [
                        str(error)
                        for (error,) in connection.execute(
                            text(
                                "SELECT last_error FROM jobs WHERE state = 'failed' UNION ALL "
                                "SELECT last_error FROM outbox WHERE failed_at IS NOT NULL"
                            )
                        )
                    ],
                }
        finally:
            engine.dispose()

    def wait_until_settled(self, timeout: float = 120.0) -> None:
        """Until nothing is left to do (twice in a row, a poll interval apart)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:
            left = self.pending()
            quiet = quiet + 1 if left["jobs"] == 0 and left["outbox"] == 0 else 0
            if time.monotonic() > deadline:
                raise AssertionError(f"work left after {timeout} s: {left}")
            time.sleep(0.5)

    def log(self) -> str:
        return "\n".join(f"--- {name}\n{p.log()}" for name, p in self.processes.items())


def _count(connection: Any, where: str) -> int:
    return int(connection.execute(text(f"SELECT count(*) FROM {where}")).scalar_one())


def _sync(url: str) -> str:
    return url.replace("sqlite+aiosqlite", "sqlite").replace(
        "postgresql://", "postgresql+psycopg://"
    )


@contextmanager
def deployment(
    sim: AICoreSimulator,
    database_url: str,
    *,
    poll_interval: float = 0.5,
    pace_seconds: float | None = 0.8,
    **env: str,
) -> Iterator[Deployment]:
    """Simulator and fake Slack served; processes are started by the test."""
    fake = FakeSlack(bot_token=BOT_TOKEN, pace_seconds=pace_seconds)
    with ServedApp(sim.app) as sim_server, ServedApp(fake.app) as slack_server:
        base = bot_env(
            slack_url=slack_server.url,
            aicore_url=sim_server.url,
            database_url=database_url,
            bot_token=BOT_TOKEN,
            POLL_INTERVAL_SECONDS=str(poll_interval),
            **env,
        )
        world = Deployment(sim, fake, database_url, slack_server.url, sim_server.url, base)
        try:
            yield world
        finally:
            world.stop_all()
