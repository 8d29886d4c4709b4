"""The supervisor of background work: named periodic jobs on the event loop, and one-off deferred
steps on a worker thread.

A periodic job is a blocking callable run every `interval` seconds in a thread (so the loop never
waits on a database); a deferred step runs once, in submission order, on a single worker thread.
A failing job is logged under its name and runs again at its next turn; `stop` cancels the periodic
jobs and `close` waits for the deferred steps already submitted. Imports nothing from lamina.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("lamina.supervisor")


@dataclass(frozen=True)
class Job:
    name: str
    interval: float
    run: Callable[[], None]


class Supervisor:
    def __init__(self) -> None:
        self._jobs: list[Job] = []
        self._tasks: list[asyncio.Task] = []
        self._deferred = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lamina-settle")

    def every(self, name: str, interval: float, run: Callable[[], None]) -> None:
        """Run `run` every `interval` seconds once started (first run at start)."""
        self._jobs.append(Job(name, interval, run))

    def defer(self, step: Callable[[], None]) -> None:
        """Run `step` soon on the deferred-step thread; a failure is logged."""
        def run() -> None:
            try:
                step()
            except Exception:
                log.exception("deferred control-plane step failed")
        self._deferred.submit(run)

    def start(self) -> None:
        """Start every periodic job on the running event loop."""
        self._tasks = [asyncio.create_task(self._loop(job), name=job.name) for job in self._jobs]

    async def _loop(self, job: Job) -> None:
        while True:
            try:
                await asyncio.to_thread(job.run)
            except Exception:
                log.exception("%s failed", job.name)
            await asyncio.sleep(job.interval)

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []

    def close(self) -> None:
        """Wait for the deferred steps already submitted, then refuse new ones."""
        self._deferred.shutdown(wait=True)
