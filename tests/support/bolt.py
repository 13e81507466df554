"""Drive the wired bot through Bolt's own dispatch with requests signed as Slack signs them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.app import Components
from bot.delivery import Delivery
from bot.inbound import repaired
from bot.providers.aicore.simulator import AICoreSimulator
from bot.runner import JobRunner
from tests.support.fake_slack import FakeSlack
from tests.support.servers import ServedApp
from tests.support.slack_signing import button_click_body, sign, slash_command_body

SIGNING_SECRET = "test-signing-secret-0123456789"


@dataclass
class Ack:
    status: int
    body: dict[str, Any] | str

    @property
    def text(self) -> str:
        return self.body.get("text", "") if isinstance(self.body, dict) else self.body


def worker_parts(
    components: Components, *, delivery: Delivery | None = None
) -> tuple[JobRunner, Delivery]:
    """The worker's job runner and delivery for in-process tests (no pacing)."""
    runner = JobRunner(
        queue=components.jobs, functions=components.job_functions, health=components.health
    )
    delivery = delivery or Delivery(
        db=components.db,
        slack=components.delivery_slack,
        leases=components.leases,
        post_interval=0.0,
    )
    return runner, delivery


class Slack:
    """A user at a Slack client: types commands, clicks buttons, reads what came back.

    Each request goes through Bolt's dispatch exactly as Slack would send it; then, unless
    ``settle=False``, the jobs it recorded are run and the outbox delivered (what a worker
    does), so that the test reads what the user would see.
    """

    def __init__(
        self,
        components: Components,
        fake: FakeSlack,
        served: ServedApp,
        sim: AICoreSimulator,
        *,
        settle: bool = True,
        delivery: Delivery | None = None,
    ) -> None:
        self.components = components
        self.fake = fake
        self.served = served
        self.sim = sim
        self.auto_settle = settle
        self.runner, self.delivery = worker_parts(components, delivery=delivery)
        self.last_response_url = ""

    async def settle(self) -> None:
        """Run every recorded job and deliver every due message, until nothing is left."""
        while await self.runner.drain() + await self.delivery.drain():
            pass

    async def _dispatch(self, body: bytes) -> Ack:
        request = repaired(AsyncBoltRequest(body=body.decode(), headers=sign(SIGNING_SECRET, body)))
        response: BoltResponse = await self.components.bolt.async_dispatch(request)
        try:
            parsed: dict[str, Any] | str = json.loads(response.body) if response.body else ""
        except json.JSONDecodeError:
            parsed = response.body
        if self.auto_settle:
            await self.settle()
        return Ack(response.status, parsed)

    async def command(
        self, text: str, *, command: str = "/aicore", user: str = "U123", channel: str = "C123"
    ) -> Ack:
        self.last_response_url = self.fake.response_url(self.served.url)
        body = slash_command_body(
            command=command,
            text=text,
            user_id=user,
            channel_id=channel,
            response_url=self.last_response_url,
        )
        return await self._dispatch(body)

    async def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str = "U123",
        channel: str = "C123",
        message_ts: str | None = None,
        ephemeral: bool = False,
    ) -> Ack:
        self.last_response_url = self.fake.response_url(self.served.url)
        body = button_click_body(
            action_id=action_id,
            value=value,
            user_id=user,
            channel_id=channel,
            message_ts=message_ts,
            response_url=self.last_response_url,
            ephemeral=ephemeral,
        )
        return await self._dispatch(body)

    async def replies(self, count: int = 1, url: str | None = None) -> list[dict[str, Any]]:
        """Wait until ``count`` answers arrived at the response URL, then return them."""
        target = url or self.last_response_url
        await self.fake.wait_for(lambda: len(self.fake.responses_for(target)) >= count)
        return self.fake.responses_for(target)

    async def reply_text(self, count: int = 1) -> str:
        answer = (await self.replies(count))[count - 1]
        return flatten(answer)


def flatten(payload: dict[str, Any] | list[Any] | str) -> str:
    """Every text in a message or block tree, joined: what a reader sees."""
    if isinstance(payload, str):
        return payload
    if isinstance(payload, list):
        return "\n".join(flatten(item) for item in payload)
    parts = []
    for key, value in payload.items():
        if key in ("text", "blocks", "fields", "elements", "title") or isinstance(value, list):
            parts.append(flatten(value) if not isinstance(value, str) else value)
    return "\n".join(p for p in parts if p)


def buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """action_id -> button, for every button in a message."""
    found = {}
    for block in blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            found[element["action_id"]] = element
    return found
