"""Group commit: writes submitted together share one transaction.

Hundreds of jobs in flight each make a handful of small writes (a checkpoint, a card, the
end of the job), and a burst of commands makes a hundred inserts at once. On PostgreSQL each
transaction is a round trip or three; on SQLite each takes the database's one write lock,
for which everybody else waits. Batched, a burst costs a few transactions, each run start to
end in a writer thread (see :mod:`bot.store.db`).

In a batch of several, each write runs in a savepoint of the shared transaction, so that its
failure (a unique key taken, a lease lost) is its submitter's alone. Results are handed out
only once the transaction has committed. The first write after a quiet moment goes at once:
a batch is only what arrived while the previous one was written.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")
Write = Callable[[Session], Any]
Commit = Callable[[Callable[[Session], Any]], Any]  # runs one transaction, in a thread
InThread = Callable[..., Any]

MAX_BATCH = 200


class GroupCommit:
    """Runs submitted writes in shared transactions, one transaction at a time.

    ``transaction(work)`` runs ``work(session)`` in one transaction and is called in a writer
    thread through ``in_thread``.
    """

    def __init__(self, transaction: Commit, in_thread: InThread) -> None:
        self._transaction = transaction
        self._in_thread = in_thread
        self._waiting: list[tuple[Write, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def run(self, write: Callable[[Session], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((write, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await future

    async def _write_all(self) -> None:
        while self._waiting:
            batch = self._waiting[:MAX_BATCH]
            del self._waiting[: len(batch)]
            writes = [write for write, _future in batch]
            try:
                outcomes = await self._in_thread(
                    self._transaction, functools.partial(_apply, writes)
                )
            except Exception as exc:  # noqa: BLE001 - the batch failed: each submitter hears
                outcomes = [(False, exc)] * len(batch)
            for (_write, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)


def _apply(writes: list[Write], session: Session) -> list[tuple[bool, Any]]:
    if len(writes) == 1:  # alone in its transaction: it fails alone
        return [(True, writes[0](session))]
    outcomes: list[tuple[bool, Any]] = []
    for write in writes:
        try:
            with session.begin_nested():
                outcomes.append((True, write(session)))
        except Exception as exc:  # noqa: BLE001 - this write's failure is its submitter's
            outcomes.append((False, exc))
    return outcomes
