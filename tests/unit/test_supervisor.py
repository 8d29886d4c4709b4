"""The supervisor: periodic jobs run in a thread and again after a failure, stop cancels them,
deferred steps run in order and a failing one is logged."""

import asyncio
import logging
import threading

from lamina.supervisor import Supervisor


def test_a_periodic_job_runs_off_the_loop_and_keeps_running_after_a_failure(caplog):
    supervisor, runs = Supervisor(), []
    done = threading.Event()

    def job():
        runs.append(threading.get_ident())
        if len(runs) == 1:
            raise RuntimeError("first run fails")
        done.set()

    async def main():
        supervisor.every("flaky job", 0, job)
        supervisor.start()
        while not done.is_set():
            await asyncio.sleep(0)
        supervisor.stop()
        return threading.get_ident()

    with caplog.at_level(logging.ERROR, logger="lamina.supervisor"):
        loop_thread = asyncio.run(main())
    assert len(runs) >= 2 and loop_thread not in runs
    assert "flaky job failed" in caplog.text and "first run fails" in caplog.text


def test_stop_cancels_the_periodic_jobs():
    supervisor = Supervisor()

    async def main():
        supervisor.every("idle", 3600, lambda: None)
        supervisor.start()
        tasks = list(supervisor._tasks)
        supervisor.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        return tasks

    assert all(task.cancelled() for task in asyncio.run(main()))


def test_deferred_steps_run_in_order_and_a_failure_does_not_stop_the_next(caplog):
    supervisor, seen = Supervisor(), []

    def broken():
        raise ValueError("bad step")

    with caplog.at_level(logging.ERROR, logger="lamina.supervisor"):
        supervisor.defer(lambda: seen.append(1))
        supervisor.defer(broken)
        supervisor.defer(lambda: seen.append(2))
        supervisor.close()  # waits for what was submitted
    assert seen == [1, 2]
    assert "deferred control-plane step failed" in caplog.text
