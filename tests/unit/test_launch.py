"""Starting from a name or with changed parameters (bot.launch): the pure rules, and the
copy of a configuration made once per job however its attempts end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from bot import launch
from bot.errors import InputError, NotFoundError, ProviderUnavailable
from bot.jobs import RetryLater
from bot.providers.aicore.client import _check_name
from bot.providers.base import Target, Targets

BASE = Target(
    provider="aicore",
    scope="default",
    id="cfg-small",
    name="train-small",
    scenario="training",
    executable="trainer",
    parameters=(("epochs", "3"), ("learning_rate", "0.001")),
    artifacts=(("data", "art-0001"),),
)


def target(target_id: str, name: str) -> Target:
    return Target(provider="aicore", scope="default", id=target_id, name=name)


def test_a_unique_name_is_picked_exactly_then_ignoring_case() -> None:
    found = [target("c1", "Nightly"), target("c2", "nightly-big"), target("c3", "NIGHTLY")]
    assert launch.pick_by_name("Nightly", found).target == found[0]
    assert launch.pick_by_name("nightly-BIG", found).target == found[1]
    ambiguous = launch.pick_by_name("nightly", found)  # two names differ only in case
    assert ambiguous.target is None and ambiguous.ambiguous
    assert [t.id for t in ambiguous.candidates] == ["c1", "c3"]
    unknown = launch.pick_by_name("night", found)
    assert unknown.target is None and not unknown.ambiguous and len(unknown.candidates) == 3


def test_changes_are_the_values_that_differ_and_unknown_keys_are_refused() -> None:
    changes = launch.with_changes(BASE, {"epochs": "3", "learning_rate": "0.01"})
    assert changes.changed == ("learning_rate",)
    assert changes.parameters == (("epochs", "3"), ("learning_rate", "0.01"))
    with pytest.raises(InputError, match="`gpus` is not a parameter"):
        launch.with_changes(BASE, {"gpus": "8"})


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("train-small", ["learning_rate"]),
        ("modèle français", ["learning_rate"]),  # AI Core names are ASCII
        ("train-small", [f"parameter_number_{n}" for n in range(7)]),  # a long list of keys
        ("x" * 256, ["learning_rate"]),
    ],
)
def test_a_derived_name_is_one_ai_core_accepts_and_ends_with_the_jobs_mark(
    name: str, keys: list[str]
) -> None:
    base = Target(provider="aicore", scope="default", id="cfg-small", name=name)
    derived = launch.derived_name(base, keys, 42)
    _check_name(derived)  # raises InputError for a name the client would refuse
    assert derived.endswith(launch.job_mark(42)) and "from cfg-small" in derived
    assert len(launch.job_mark(42)) <= 80  # short enough to search for ($search)


class Ledger:
    def __init__(self) -> None:
        self.progress: dict[str, Any] = {}
        self.now = 1000.0

    async def checkpoint(self, *, stamp: str | None = None, **progress: Any) -> float:
        self.progress.update(progress)
        if stamp:
            self.progress[stamp] = self.now
        return self.now

    async def claim_run(self, run_key: str, run_id: str) -> bool:
        return True


class Catalogue:
    """A provider's configurations, and the creates it was asked for."""

    can_derive = True
    name = "aicore"
    label = "AI Core"

    def __init__(self, *, lost_answers: int = 0) -> None:
        self.targets: list[Target] = [BASE]
        self.creates: list[str] = []
        self.lost_answers = lost_answers

    async def get_target(self, scope: str, target_id: str) -> Target:
        for found in self.targets:
            if found.id == target_id:
                return found
        raise NotFoundError(f"no {target_id}")

    async def find_targets(self, scope: str, text: str | None, *, limit: int) -> Targets:
        found = [t for t in self.targets if (text or "").lower() in t.name.lower()]
        return Targets(found=found[:limit], total=len(found))

    async def derive_target(
        self, scope: str, base: Target, parameters: Sequence[tuple[str, str]], *, name: str
    ) -> Target:
        self.creates.append(name)
        made = Target(provider="aicore", scope=scope, id=f"new-{len(self.creates)}", name=name)
        self.targets.append(made)
        if self.lost_answers:
            self.lost_answers -= 1
            raise ProviderUnavailable("the answer was lost")
        return made


async def derive(provider: Catalogue, ledger: Ledger, job_id: int = 7) -> Target:
    changes = launch.with_changes(BASE, {"learning_rate": "0.01"})
    return await launch.derive_once(
        provider,  # type: ignore[arg-type]
        "default",
        BASE,
        changes,
        name=launch.derived_name(BASE, changes.changed, job_id),
        mark=launch.job_mark(job_id),
        ledger=ledger,
    )


async def test_a_lost_answer_is_found_by_the_jobs_mark_not_created_twice() -> None:
    provider, ledger = Catalogue(lost_answers=1), Ledger()
    # An earlier job made a copy of the same base with the same change: a different job.
    await derive(provider, Ledger(), job_id=6)
    made = await derive(provider, ledger)
    assert made.name.endswith("; job 7)") and len(provider.creates) == 2
    assert ledger.progress["derived_id"] == made.id


async def test_an_attempt_after_a_crash_finds_the_copy_or_waits_before_posting_again() -> None:
    provider, ledger = Catalogue(), Ledger()
    ledger.progress["deriving_at"] = ledger.now  # the POST may have gone out, then a crash
    with pytest.raises(RetryLater):  # not found yet: it may still arrive
        await derive(provider, ledger)
    ledger.now += launch.DERIVE_SETTLE_SECONDS + 1
    made = await derive(provider, ledger)  # it never arrived: posted now, once
    assert len(provider.creates) == 1 and (await derive(provider, ledger)) == made
