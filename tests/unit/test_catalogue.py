"""The start form's picker (bot.catalogue): one listing serves a form, filtered here; AI Core's
search for big catalogues; all within Slack's options budget; the last good listing when AI
Core fails."""

from __future__ import annotations

import asyncio

import pytest

from bot.catalogue import Catalogue
from bot.errors import ProviderUnavailable
from bot.providers.base import Target, Targets


def target(n: int, name: str, scenario: str = "training") -> Target:
    return Target(
        provider="aicore", scope="default", id=f"cfg-{n:04d}", name=name, scenario=scenario
    )


class Provider:
    name = "aicore"
    label = "AI Core"

    def __init__(self, targets: list[Target], *, total: int | None = None) -> None:
        self.targets = targets
        self.total = total
        self.listings = 0
        self.searches: list[str] = []
        self.delay = 0.0
        self.failing = False

    async def find_targets(self, scope: str, text: str | None, *, limit: int) -> Targets:
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow AI Core
        if self.failing:
            raise ProviderUnavailable("AI Core is down")
        if text is None:
            self.listings += 1
            return Targets(self.targets[:limit], self.total or len(self.targets))
        self.searches.append(text)
        return Targets([t for t in self.targets if text in t.name.lower()], len(self.targets))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_one_listing_serves_every_keystroke_matching_name_scenario_or_id() -> None:
    provider = Provider([target(1, "train-small"), target(2, "nightly", "eval")])
    catalogue = Catalogue()
    assert [t.id for t in await catalogue.matching(provider, "default", "SMALL")] == ["cfg-0001"]
    assert [t.id for t in await catalogue.matching(provider, "default", "eval")] == ["cfg-0002"]
    assert [t.id for t in await catalogue.matching(provider, "default", "0002")] == ["cfg-0002"]
    assert len(await catalogue.matching(provider, "default", "")) == 2
    assert provider.listings == 1 and provider.searches == []


async def test_a_catalogue_bigger_than_a_listing_is_searched_by_ai_core() -> None:
    provider = Provider([target(1, "train-small")], total=5000)
    found = await Catalogue().matching(provider, "default", "small")
    assert [t.id for t in found] == ["cfg-0001"] and provider.searches == ["small"]


async def test_a_failing_listing_leaves_the_last_good_one_in_use() -> None:
    clock = Clock()
    provider = Provider([target(1, "train-small")])
    catalogue = Catalogue(ttl=60, clock=clock)
    await catalogue.matching(provider, "default", "")
    clock.now += 61  # expired
    provider.failing = True
    assert [t.id for t in await catalogue.matching(provider, "default", "small")] == ["cfg-0001"]


async def test_listing_and_searching_together_stay_within_the_budget() -> None:
    provider = Provider([target(1, "train-small")], total=5000)
    provider.delay = 0.15  # each call alone fits the budget; both together do not
    catalogue = Catalogue(timeout=0.2)
    with pytest.raises(ProviderUnavailable):
        await catalogue.matching(provider, "default", "small")
