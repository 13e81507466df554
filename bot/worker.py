"""The worker role: the poller on an APScheduler job and delivery as a task, in the bot's loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import SQLAlchemyError

from bot.app import Components
from bot.delivery import Delivery
from bot.poller import Poller, PollerConfig

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 5.0


class Worker:
    def __init__(self, components: Components) -> None:
        settings = components.settings
        self.components = components
        self.poller = Poller(
            providers=components.providers,
            db=components.db,
            config=PollerConfig(
                interval_seconds=settings.poll_interval_seconds,
                pending_alert_seconds=settings.pending_alert_seconds,
            ),
        )
        self.delivery = Delivery(
            db=components.db,
            slack=components.slack,
            providers=components.providers,
            log_links=components.service.log_links,
        )
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self._stop = asyncio.Event()
        self._delivery_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        interval = self.components.settings.poll_interval_seconds
        self.scheduler.add_job(
            self.poll_once,
            "interval",
            seconds=interval,
            id="poll",
            max_instances=1,  # a slow cycle is never overlapped by the next one
            coalesce=True,  # missed runs (a long cycle, a suspended laptop) collapse into one
            misfire_grace_time=max(1, int(interval)),
            next_run_time=datetime.now().astimezone(),  # poll right away at start-up
        )
        self.scheduler.start()
        self._delivery_task = asyncio.create_task(self.delivery.run(self._stop), name="delivery")

    async def poll_once(self) -> None:
        report = await self.poller.cycle()
        if report.messages:
            self.delivery.wake()

    async def stop(self) -> None:
        """Finish the message being sent, then stop within a few seconds."""
        self.scheduler.shutdown(wait=False)
        self.delivery.stop_soon()
        self._stop.set()
        if self._delivery_task is not None:
            try:
                await asyncio.wait_for(self._delivery_task, SHUTDOWN_GRACE_SECONDS)
            except TimeoutError:
                log.warning(
                    "delivery did not finish in %.0f s; leaving the rest for the next start",
                    SHUTDOWN_GRACE_SECONDS,
                )
                self._delivery_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._delivery_task
        try:
            await self.poller.release_lease()  # lets another worker take over at once
        except SQLAlchemyError as exc:
            log.warning(
                "could not release the poller lease (%s); it expires by itself", type(exc).__name__
            )
