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


def test_write_now_stores_what_was_appended_in_the_calling_thread():
    written = []
    buffer = LogBuffer(lambda batches: written.append((threading.current_thread().name, batches)), interval=3600)
    writer_wake, buffer._wake = buffer._wake, threading.Event()  # after_flush must not wake the writer first
    try:
        buffer("a")
        buffer("b")
        marks = []
        buffer.after_flush(lambda: marks.append(threading.current_thread().name))
        buffer.write_now()
        assert written[0] == (threading.current_thread().name, ["a", "b"])
        assert marks == [threading.current_thread().name]  # waiters popped with the lines are told too
    finally:
        buffer._wake = writer_wake
        buffer.close()


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
