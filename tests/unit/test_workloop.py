"""The work loop: after-ack work runs on another thread's loop and comes back as a result."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.workloop import WorkLoop, cancel_the_rest, run_here


async def test_work_runs_on_the_work_thread_and_its_result_comes_back() -> None:
    work = WorkLoop()
    work.start()
    try:

        async def where() -> str:
            return threading.current_thread().name

        assert await work.run(where()) == "work-loop"
        with pytest.raises(ValueError, match="boom"):

            async def fails() -> None:
                raise ValueError("boom")

            await work.run(fails())
    finally:
        work.stop()


async def test_run_here_runs_in_the_calling_loop() -> None:
    async def where() -> str:
        return threading.current_thread().name

    assert await run_here(where()) == threading.current_thread().name


async def test_cancel_the_rest_ends_every_other_task() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(forever())
    await started.wait()
    await cancel_the_rest()
    assert task.cancelled()
