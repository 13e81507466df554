"""Direct messages from the bot to one user (scope ``im:write``).

Used where a request has no ``response_url`` to answer on (a click or a form from the App
Home tab) and for the DM to whoever started a run that died. The DM channel is opened with
``conversations.open`` (idempotent on Slack's side) and remembered per process.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient


class DirectMessages:
    def __init__(self, slack: AsyncWebClient) -> None:
        self.slack = slack
        self._channels: dict[str, str] = {}

    async def channel(self, user: str) -> str:
        """The ID of the user's DM with the bot (``D…``)."""
        if user not in self._channels:
            opened = await self.slack.conversations_open(users=user)
            self._channels[user] = str(opened["channel"]["id"])
        return self._channels[user]

    async def post(self, user: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        await self.slack.chat_postMessage(
            channel=await self.channel(user), text=text or " ", blocks=blocks
        )


class DirectRespond:
    """Answers like Bolt's ``respond``, in the user's DM: a DM cannot be ephemeral or
    replace an earlier answer, so those arguments are ignored."""

    def __init__(self, messages: DirectMessages, user: str) -> None:
        self.messages = messages
        self.user = user

    async def __call__(
        self, text: str | None = None, blocks: list[dict[str, Any]] | None = None, **_: Any
    ) -> None:
        await self.messages.post(self.user, text or " ", blocks)


#: How a job answers its user: on the request's response URL, or in their DM.
Respond: TypeAlias = AsyncRespond | DirectRespond
