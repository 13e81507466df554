"""What a start starts from, when the user gave a name or changed parameters.

- :func:`resolve`: a configuration (AI Core) or model (Bria) by its ID, or else by its name,
  unique in the scope. A name that names none or several gets the candidates (with their IDs)
  as the answer, and nothing is started.
- :func:`with_changes`: the parameter values a modal submitted, against the configuration's
  current ones. Changed values need a new configuration (AI Core cannot take parameters at
  start), made by :func:`derive_once`: at most once per job, however many attempts it takes,
  and named after where it came from, which is also how a resumed attempt finds it again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot import blocks
from bot.blocks.start import MAX_CANDIDATES, candidates_text
from bot.commands import AI_CORE_ID, BRIA_MODEL_ID
from bot.errors import InputError, NotFoundError, ProviderUnavailable
from bot.jobs import RetryLater
from bot.providers.aicore.client import safe_name
from bot.providers.base import Provider, Target
from bot.service import Ledger

log = logging.getLogger(__name__)

SEARCH_LIMIT = 200
# A derive resumed after its worker died waits this long after its POST before concluding
# that the POST never arrived (and posting again).
DERIVE_SETTLE_SECONDS = 60.0


@dataclass(frozen=True)
class Resolved:
    target: Target | None
    candidates: list[Target]
    ambiguous: bool = False


def pick_by_name(name: str, found: Sequence[Target]) -> Resolved:
    """The one target named ``name`` (exactly, else ignoring case), or the candidates."""
    for same in (
        [t for t in found if t.name == name],
        [t for t in found if t.name.casefold() == name.casefold()],
    ):
        if len(same) == 1:
            return Resolved(same[0], [])
        if same:
            return Resolved(None, same[:MAX_CANDIDATES], ambiguous=True)
    return Resolved(None, list(found[:MAX_CANDIDATES]))


def _looks_like_id(provider: Provider, text: str) -> bool:
    pattern = BRIA_MODEL_ID if provider.name == "bria" else AI_CORE_ID
    return bool(pattern.fullmatch(text))


async def resolve(provider: Provider, scope: str, text: str) -> Target:
    """The target ``text`` names: its ID first, then its unique name. An ID that is neither
    is answered with the provider's own not-found error (and its requestId)."""
    missing: NotFoundError | None = None
    if _looks_like_id(provider, text):
        try:
            return await provider.get_target(scope, text)
        except NotFoundError as exc:
            missing = exc  # not an ID here: perhaps a name
    found = await provider.find_targets(scope, text, limit=SEARCH_LIMIT)
    resolved = pick_by_name(text, found.found)
    if resolved.target is not None:
        return resolved.target
    if missing is not None and not resolved.candidates:
        raise missing
    word = "model" if provider.name == "bria" else "configuration"
    raise InputError(
        candidates_text(
            label=provider.label,
            word=word,
            name=text,
            scope=scope,
            candidates=resolved.candidates,
            ambiguous=resolved.ambiguous,
        )
    )


@dataclass(frozen=True)
class Changes:
    parameters: tuple[tuple[str, str], ...]  # every binding, with the new values
    changed: tuple[str, ...]  # the keys whose value differs

    def describe(self) -> str:
        return ", ".join(f"{key}={dict(self.parameters)[key]}" for key in self.changed)


def with_changes(base: Target, submitted: Mapping[str, str]) -> Changes:
    """``base``'s bindings with the submitted values; a key it has not is refused."""
    known = {key for key, _ in base.parameters}
    unknown = sorted(set(submitted) - known)
    if unknown:
        raise InputError(
            f"`{blocks.escape(unknown[0])}` is not a parameter of configuration `{base.id}`; "
            "nothing was started. Open the start form again."
        )
    parameters = tuple((key, submitted.get(key, value)) for key, value in base.parameters)
    pairs = zip(base.parameters, parameters, strict=True)
    changed = tuple(key for (key, old), (_, new) in pairs if old != new)
    return Changes(parameters, changed)


def derived_name(base: Target, changed: Sequence[str], job_id: int) -> str:
    """Says where it came from, in AI Core's name alphabet, at most 256 characters; ends
    with :func:`job_mark`, by which a resumed attempt finds it."""
    keys = ", ".join(changed)
    if len(keys) > 80:
        keys = keys[:77] + "..."
    suffix = safe_name(f" (changed in Slack: {keys}; from {base.id}") + job_mark(job_id)
    head = safe_name(base.name)
    if len(head) > 256 - len(suffix):
        head = head[: 256 - len(suffix) - 3] + "..."
    return head + suffix


def job_mark(job_id: int) -> str:
    """The end of the names a job gives its configurations: ``; job 12)`` names job 12 only
    (``job 123`` does not end in ``job 12)``)."""
    return f"; job {job_id})"


async def derive_once(
    provider: Provider,
    scope: str,
    base: Target,
    changes: Changes,
    *,
    name: str,
    mark: str,
    ledger: Ledger,
) -> Target:
    """The configuration with ``changes``, created once for this job.

    Before the POST the job records that it may go out; an attempt that finds that record
    (its predecessor died, or the POST's answer was lost) looks the configuration up by the
    job's ``mark`` at the end of its name, and posts again only once a POST sent then can no
    longer arrive.
    """
    progress = ledger.progress
    if progress.get("derived_id"):
        return await provider.get_target(scope, str(progress["derived_id"]))
    if progress.get("deriving_at") is not None:
        found = await _named(provider, scope, name, mark)
        if found is not None:
            await ledger.checkpoint(derived_id=found.id)
            return found
        if await ledger.checkpoint() - float(progress["deriving_at"]) < DERIVE_SETTLE_SECONDS:
            raise RetryLater(15, f"the new configuration {name!r} may still be on its way")
    await ledger.checkpoint(stamp="deriving_at")
    try:
        derived = await provider.derive_target(scope, base, changes.parameters, name=name)
    except ProviderUnavailable:
        found = await _named(provider, scope, name, mark)
        if found is None:
            # It may still arrive: look again later, and post again only after that.
            raise RetryLater(15, f"the create of {name!r} was ambiguous") from None
        log.info("the ambiguous create of %r had worked: %s", name, found.id)
        derived = found
    await ledger.checkpoint(derived_id=derived.id)
    log.info("created configuration %s from %s in %s", derived.id, base.id, scope)
    return derived


async def _named(provider: Provider, scope: str, name: str, mark: str) -> Target | None:
    found = await provider.find_targets(scope, mark, limit=SEARCH_LIMIT)
    return next((t for t in found.found if t.name == name), None)
