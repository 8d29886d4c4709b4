import asyncio
import threading
import time

import pytest

from lamina.queue.worklist import WorkList


def test_calls_run_in_order_in_one_thread_and_answer_their_callers():
    async def main():
        work = WorkList("test-work")
        done, threads = [], set()

        def step(i):
            threads.add(threading.current_thread().name)
            done.append(i)
            return i * 2

        answers = await asyncio.gather(*(work.call(lambda i=i: step(i)) for i in range(50)))
        work.stop()
        return answers, done, threads

    answers, done, threads = asyncio.run(main())
    assert answers == [i * 2 for i in range(50)]
    assert done == list(range(50))
    assert threads == {"test-work"}


def test_an_exception_goes_to_its_caller_only():
    async def main():
        work = WorkList("test-work")

        def fail():
            raise ValueError("no")

        bad, good = work.call(fail), work.call(lambda: "yes")
        with pytest.raises(ValueError):
            await bad
        answer = await good
        work.stop()
        return answer

    assert asyncio.run(main()) == "yes"


def test_a_call_cancelled_before_the_thread_reaches_it_does_not_run():
    async def main():
        work = WorkList("test-work")
        gate, ran = threading.Event(), []
        first = work.call(gate.wait)
        second = work.call(lambda: ran.append("second"))
        third = work.call(lambda: ran.append("third"))
        second.cancel()
        gate.set()
        await first
        await third
        work.stop()
        return ran

    assert asyncio.run(main()) == ["third"]


def test_stop_runs_what_was_appended_first():
    async def main():
        work = WorkList("test-work")
        ran = []
        work.call(lambda: ran.append(1))
        work.stop()
        with pytest.raises(RuntimeError):
            work.call(lambda: None)
        return ran

    assert asyncio.run(main()) == [1]


def test_run_here_runs_in_the_callers_thread_only_while_the_thread_has_nothing():
    async def main():
        work = WorkList("test-work")
        await work.call(lambda: None)  # the thread has started and gone to sleep
        for _ in range(100):
            if work.run_here(lambda: None)[0]:
                break
            await asyncio.sleep(0.01)
        here = work.run_here(lambda: threading.current_thread().name)

        gate = threading.Event()
        busy = work.call(gate.wait)  # the thread is in a call: run_here declines, runs nothing
        ran = []
        declined = work.run_here(lambda: ran.append("here"))
        gate.set()
        await busy
        work.stop()
        return here, declined, ran

    here, declined, ran = asyncio.run(main())
    assert here == (True, threading.current_thread().name)
    assert declined == (False, None) and ran == []


def test_a_call_made_while_run_here_runs_waits_for_it():
    async def main():
        work = WorkList("test-work")
        await work.call(lambda: None)
        order = []

        def here():
            order.append("here: start")
            later.append(work.call(lambda: order.append("called meanwhile")))
            time.sleep(0.05)  # the thread, were it woken, would run the call now
            order.append("here: end")
            return "done"

        later = []
        for _ in range(100):
            ran, answer = work.run_here(here)
            if ran:
                break
            await asyncio.sleep(0.01)
        await later[0]
        work.stop()
        return answer, order

    answer, order = asyncio.run(main())
    assert answer == "done"
    assert order == ["here: start", "here: end", "called meanwhile"]
