"""lamina.telemetry.logbuffer.LogBuffer: `stored` marks what it waits for after the lines a callback
already scheduled on the loop appends (an environment's deferred output, END and REPORT)."""

import asyncio
import threading

from lamina.telemetry.logbuffer import LogBuffer


def test_stored_waits_for_lines_a_scheduled_callback_appends():
    async def main():
        buffer = LogBuffer(lambda batches: None, interval=3600)
        writer_wake, buffer._wake = buffer._wake, threading.Event()  # the writer sleeps on: nothing drains
        try:
            buffer("earlier")

            async def event_finished():  # the queue's attempt, in the step its invoke returned in
                asyncio.get_running_loop().call_soon(buffer, "deferred")  # as PlatformLines.after_answer's settle
                await buffer.stored()

            waiting = asyncio.ensure_future(event_finished())
            for _ in range(3):
                await asyncio.sleep(0)
            order = ["mark" if callable(item) else item for item in buffer._pending]
            waiting.cancel()
            return order
        finally:
            buffer._wake = writer_wake
            buffer.close()

    assert asyncio.run(main()) == ["earlier", "deferred", "mark"]


def test_drain_into_hands_what_was_appended_to_the_callers_store_in_its_thread():
    stored = []
    written = []
    buffer = LogBuffer(written.append, interval=3600)
    writer_wake, buffer._wake = buffer._wake, threading.Event()  # after_flush must not wake the writer first
    try:
        buffer("a")
        marks = []
        buffer.after_flush(lambda: marks.append(("mark", list(stored))))
        buffer("b")
        buffer.drain_into(lambda batches: stored.append((threading.current_thread().name, batches)))
        assert stored == [(threading.current_thread().name, ["a", "b"])]
        assert marks == [("mark", stored)]  # waiters popped with the lines are told once they are stored
        buffer.drain_into(stored.append)
        assert stored[-1] == []  # called with nothing too: the caller's transaction goes on without lines
    finally:
        buffer._wake = writer_wake
        buffer.close()
    assert written == []  # the writer thread stored none of them


def test_lines_a_failed_drain_could_not_store_go_back_for_the_writer():
    written = []
    buffer = LogBuffer(written.extend, interval=3600)
    writer_wake, buffer._wake = buffer._wake, threading.Event()  # after_flush must not wake the writer first
    buffer("a")
    marks = []
    buffer.after_flush(lambda: marks.append("mark"))
    buffer("b")

    def failing(batches):
        raise OSError("disk full")

    try:
        buffer.drain_into(failing)
    except OSError:
        pass
    else:
        raise AssertionError("the store's error propagates")
    assert marks == []  # nothing was stored: nobody is told it was
    buffer("c")
    buffer._wake = writer_wake
    buffer.close()  # the writer stores what is left, in order
    assert written == ["a", "b", "c"] and marks == ["mark"]


def test_appended_lets_scheduled_callbacks_append_first():
    async def main():
        buffer = LogBuffer(lambda batches: None, interval=3600)
        writer_wake, buffer._wake = buffer._wake, threading.Event()  # the writer sleeps on: nothing drains
        try:
            asyncio.get_running_loop().call_soon(buffer, "deferred")
            await buffer.appended()
            return list(buffer._pending)
        finally:
            buffer._wake = writer_wake
            buffer.close()

    assert asyncio.run(main()) == ["deferred"]
