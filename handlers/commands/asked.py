"""Who asked for a command, where, and how to answer them: what every command's work gets."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bot import blocks
from bot.audit import Actor
from bot.commands import Command
from bot.deps import Deps
from bot.direct import Respond
from bot.runner import JobContext


@dataclass(frozen=True)
class Asked:
    """Who asked, where, and how to answer them."""

    channel: str
    user: str
    respond: Respond
    job: JobContext

    @property
    def actor(self) -> Actor:
        return Actor(user=self.user, channel=self.channel, cause=f"job{self.job.job.id}")


Work = Callable[[Deps, Command, Asked], Coroutine[Any, Any, None]]


def style_of(deps: Deps, cmd: Command) -> blocks.Style:
    return deps.service.provider(cmd.provider).style


def label_of(deps: Deps, cmd: Command) -> str:
    return style_of(deps, cmd).label
