"""The job runner: claims jobs, runs each with the function registered for its kind.

How a job ends:

- it returns: ``done``;
- it raises one of our own errors (:class:`bot.errors.ChatOpsError`): the user hears it
  privately, through the job's ``response_url``, and the job is ``done`` (the answer was the
  work);
- it raises :class:`RetryLater`: queued again after the given pause;
- it raises anything else: a bug. The traceback is logged, the user is told something went
  wrong (with the job's number, which the log names), and the job is ``failed``: set aside,
  never retried, so one bad job cannot take the runner down again and again;
- its lease was lost (:class:`bot.leases.LeaseLost`): another worker has it; stop quietly;
- the worker shuts down: unfinished jobs are handed back at once for another worker.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.direct import DirectMessages, DirectRespond
from bot.errors import ChatOpsError
from bot.jobs import ClaimedJob, JobQueue, RetryLater
from bot.leases import LeaseLost
from bot.supervise import Health, Wakeup, supervised

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 256  # jobs wait on providers; a slow AI Core needs many in flight
CLAIM_BATCH = 50
IDLE_POLL_SECONDS = 0.1


@dataclass
class JobContext:
    """What a job function gets: its job, a way to record progress, a way to answer."""

    job: ClaimedJob
    queue: JobQueue
    # Where a request without a response_url (the App Home tab) is answered: its user's DM.
    direct: DirectMessages | None = None

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @property
    def progress(self) -> dict[str, Any]:
        return self.job.progress

    @property
    def resumed(self) -> bool:
        """Another attempt already ran (and died, or was stopped) part of the way."""
        return self.job.attempts > 1

    async def checkpoint(self, *, stamp: str | None = None, **progress: Any) -> float:
        return await self.queue.checkpoint(self.job, stamp=stamp, **progress)

    async def claim_run(self, run_key: str, run_id: str) -> bool:
        return await self.queue.claim_run(self.job, run_key, run_id)

    @property
    def can_answer(self) -> bool:
        return bool(self.payload.get("response_url")) or self._direct_user() is not None

    @property
    def respond(self) -> AsyncRespond | DirectRespond:
        url = self.payload.get("response_url")
        if url:
            return AsyncRespond(response_url=str(url))
        user = self._direct_user()
        if user is None or self.direct is None:
            raise ChatOpsError("this request came without a response_url; nothing to answer")
        return DirectRespond(self.direct, user)

    def _direct_user(self) -> str | None:
        user = self.payload.get("user_id")
        return user if isinstance(user, str) and self.direct is not None else None


JobFunction = Callable[[JobContext], Awaitable[None]]


class JobRunner:
    def __init__(
        self,
        *,
        queue: JobQueue,
        functions: Mapping[str, JobFunction],
        health: Health,
        concurrency: int = DEFAULT_CONCURRENCY,
        poll_seconds: float = IDLE_POLL_SECONDS,
        direct: DirectMessages | None = None,
    ) -> None:
        self.direct = direct
        self.queue = queue
        self.functions = dict(functions)
        self.health = health
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.wakeup = Wakeup()
        self._running: dict[int, tuple[ClaimedJob, asyncio.Task[None]]] = {}
        self._claiming = True

    # -- loops -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(
            supervised("jobs", self._claim_pass, health=self.health, stop=stop, wakeup=self.wakeup),
            supervised("job-leases", self._lease_pass, health=self.health, stop=stop),
        )

    async def _claim_pass(self) -> float:
        return 0.0 if await self.claim_and_start() else self.poll_seconds

    async def _lease_pass(self) -> float:
        await self.queue.extend([job for job, _task in self._running.values()])
        return self.queue.lease_seconds / 3

    async def claim_and_start(self) -> int:
        if not self._claiming:
            return 0
        free = self.concurrency - len(self._running)
        jobs = await self.queue.claim(min(free, CLAIM_BATCH))
        for job in jobs:
            if job.id in self._running:
                continue  # our own lease ran out and we took it again: it is still running
            task = asyncio.create_task(self._run_one(job), name=f"job-{job.id}-{job.kind}")
            self._running[job.id] = (job, task)
            task.add_done_callback(functools.partial(self._ended, job.id))
        return len(jobs)

    def _ended(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self.wakeup.set()  # a slot is free

    async def drain(self) -> int:
        """Run every due job to its end, including jobs those jobs queue (tests, tools)."""
        ran = 0
        while True:
            started = await self.claim_and_start()
            ran += started
            tasks = [task for _job, task in list(self._running.values())]
            if not started and not tasks:
                return ran
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def shutdown(self, grace: float) -> None:
        """Stop claiming; let running jobs finish for ``grace`` s; hand the rest back."""
        self._claiming = False
        tasks = [task for _job, task in self._running.values()]
        if not tasks:
            return
        _done, late = await asyncio.wait(tasks, timeout=grace)
        if late:
            log.warning("%d job(s) still running after %.0f s; handing them back", len(late), grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    # -- one job -----------------------------------------------------------------------------

    async def _run_one(self, job: ClaimedJob) -> None:
        context = JobContext(job=job, queue=self.queue, direct=self.direct)
        function = self.functions.get(job.kind)
        try:
            if function is None:
                raise LookupError(f"no function for jobs of kind {job.kind!r}")
            await function(context)
        except asyncio.CancelledError:
            await self._hand_back(job)
            raise
        except LeaseLost:
            log.warning("job %d (%s) was taken over by another worker", job.id, job.kind)
        except RetryLater as later:
            log.info(
                "job %d (%s) will try again in %.0f s: %s", job.id, job.kind, later.seconds, later
            )
            await self.queue.hand_back(job, delay_seconds=later.seconds)
        except ChatOpsError as exc:
            log.info("job %d (%s) answered with an error: %s", job.id, job.kind, exc)
            await self._tell(context, f":warning: {exc.user_text()}")
            await self.queue.finish(job, error=exc.user_text())
        except Exception as exc:
            log.exception("job %d (%s) failed; setting it aside", job.id, job.kind)
            await self._tell(
                context,
                f":boom: Something went wrong on the bot's side (job {job.id}); "
                "it has been logged for the operators. Nothing more will be tried.",
            )
            await self.queue.give_up(job, f"{type(exc).__name__}: {exc}")
        else:
            await self.queue.finish(job)

    async def _hand_back(self, job: ClaimedJob) -> None:
        try:
            await asyncio.shield(self.queue.hand_back(job))
        except Exception:  # the lease expires by itself if this fails
            log.warning("could not hand job %d back; its lease will run out", job.id, exc_info=True)

    async def _tell(self, context: JobContext, text: str) -> None:
        if not context.can_answer:
            return
        try:
            await context.respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception:
            log.warning("could not answer job %d's user", context.job.id, exc_info=True)
