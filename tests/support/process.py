"""Run the real bot as ``python -m bot`` in a subprocess and talk to its real HTTP endpoint."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.bolt import SIGNING_SECRET
from tests.support.slack_signing import button_click_body, sign, slash_command_body

# The checkout whose ``python -m bot`` runs: this one, or another one named by
# BOT_CHECKOUT (to run these tests, or a benchmark, against an earlier version).
ROOT = Path(os.environ.get("BOT_CHECKOUT") or Path(__file__).resolve().parents[2])
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def bot_env(
    *,
    slack_url: str,
    aicore_url: str,
    database_url: str,
    bot_token: str = "xoxb-test-token",
    signing_secret: str | None = None,
    client_secret: str = "sim-secret",
    **extra: str,
) -> dict[str, str]:
    """The environment of a bot talking to the fake Slack at ``slack_url`` and the AI Core
    simulator at ``aicore_url`` (the bot appends ``/oauth/token`` and ``/v2``)."""
    return {
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": signing_secret or SIGNING_SECRET,
        "SLACK_API_URL": f"{slack_url}/api/",
        "AICORE_CLIENT_ID": "sim-client",
        "AICORE_CLIENT_SECRET": client_secret,
        "AICORE_AUTH_URL": aicore_url,
        "AICORE_BASE_URL": aicore_url,
        "DATABASE_URL": database_url,
        **extra,
    }


class BotProcess:
    """``python -m bot`` with the given environment; output is collected for assertions.

    The bot runs in a process group of its own (``python -m bot`` is a parent with a web and
    a worker child): SIGKILL goes to the whole group, as when a pod or VM dies; SIGTERM to
    the parent, which forwards it, as a platform stopping the service does.
    """

    def __init__(self, env: dict[str, str], *, args: tuple[str, ...] = ()) -> None:
        self.env = env
        self.args = args
        self.output: list[str] = []
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> BotProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AICORE_"))}
        env.update(self.env)
        env.setdefault("PORT", "0")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *self.args],
            cwd=ROOT,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=1,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = next((m for line in list(self.output) if (m := LISTENING.search(line))), None)
            if match:
                self.url = match.group(1)
                return self
            if self._proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise AssertionError("the bot did not start:\n" + "".join(self.output))

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self.output.append(line)

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def signal(self, sig: int) -> None:
        assert self._proc is not None
        if sig == signal.SIGKILL:
            self.kill()
        else:
            self._proc.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL to every process of the bot at once (a crashed pod)."""
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)

    def wait(self, timeout: float = 15.0) -> int:
        assert self._proc is not None
        code = self._proc.wait(timeout=timeout)
        self._wait_for_group(timeout)
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        return code

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
            self.wait(timeout=5)

    def _wait_for_group(self, timeout: float) -> None:
        """The children outlive the parent by a moment; wait until the group is empty."""
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self._proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        os.killpg(self._proc.pid, signal.SIGKILL)

    def log(self) -> str:
        return "".join(self.output)


class SignedSlackClient:
    """Sends requests to the bot's /slack/events exactly as Slack signs them."""

    def __init__(self, bot_url: str, secret: str, response_url_factory: Any) -> None:
        self.bot_url = bot_url
        self.secret = secret
        self.new_response_url = response_url_factory
        self.http = httpx.Client(timeout=10)

    def close(self) -> None:
        self.http.close()

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.http.post(f"{self.bot_url}/slack/events", content=body, headers=headers)

    def command(
        self, text: str, *, channel: str, user: str = "U123", command: str = "/aicore"
    ) -> tuple[httpx.Response, str]:
        response_url = self.new_response_url()
        body = slash_command_body(
            command=command, text=text, channel_id=channel, user_id=user, response_url=response_url
        )
        return self.post(body, sign(self.secret, body)), response_url

    def click(
        self,
        action_id: str,
        value: str,
        *,
        channel: str,
        message_ts: str | None,
        user: str = "U123",
        ephemeral: bool = False,
    ) -> tuple[httpx.Response, str]:
        response_url = self.new_response_url()
        body = button_click_body(
            action_id=action_id,
            value=value,
            user_id=user,
            channel_id=channel,
            message_ts=message_ts,
            response_url=response_url,
            ephemeral=ephemeral,
        )
        return self.post(body, sign(self.secret, body)), response_url


@contextlib.contextmanager
def running_bot(
    sim_app: Any, fake: Any, database_url: str, **extra: str
) -> Iterator[tuple[BotProcess, SignedSlackClient, str]]:
    """``python -m bot`` talking to the simulator ``sim_app`` and the fake Slack ``fake``
    (both served on 127.0.0.1): the bot, a signed client, and the fake Slack's URL."""
    from tests.support.servers import ServedApp

    with ServedApp(sim_app) as sim_server, ServedApp(fake.app) as slack_server:
        env = bot_env(
            slack_url=slack_server.url,
            aicore_url=sim_server.url,
            database_url=database_url,
            **extra,
        )
        bot = BotProcess(env).start()
        client = SignedSlackClient(
            bot.url, SIGNING_SECRET, lambda: fake.response_url(slack_server.url)
        )
        try:
            yield bot, client, slack_server.url
        finally:
            client.close()
            bot.stop()
