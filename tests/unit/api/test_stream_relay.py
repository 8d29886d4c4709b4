"""lamina.api.stream_relay: the pace schedule, backpressure on the runtime, relaying in order and
stopping the invocation when the client leaves (no sockets: asyncio only)."""

from __future__ import annotations

import asyncio

import pytest

from lamina.api import stream_relay
from lamina.api.stream_relay import ChunkQueue, pace_delay, relay
from lamina.invoke import Outcome

MB = 1024 * 1024


@pytest.mark.parametrize(("sent", "since", "now", "delay"), [
    (0, 0.0, 0.0, 0.0),
    (6 * MB, 0.0, 0.0, 0.0),  # the first 6 MB are uncapped
    (7 * MB, 0.0, 0.0, 0.5),  # then 2 MB/s: 1 MB more takes half a second from the start
    (7 * MB, 0.0, 0.2, 0.3),
    (7 * MB, 0.0, 1.0, 0.0),  # already slower than the cap
    (26 * MB, 10.0, 10.0, 10.0),
])
def test_pace(sent, since, now, delay):
    assert pace_delay(sent, since, now) == pytest.approx(delay)


def test_a_queue_past_the_high_water_holds_the_runtime_back_until_it_drains():
    queue = ChunkQueue()
    pauses: list[bool] = []
    queue.attach(lambda: None, pauses.append)
    piece = b"x" * (stream_relay.HIGH_WATER // 2)
    queue.write(piece)
    queue.write(piece)
    assert pauses == []
    queue.write(b"y")
    assert pauses == [True]
    queue.write(b"z")
    assert pauses == [True]  # told once
    queue.taken(piece)
    assert pauses == [True]
    queue.taken(piece)
    assert pauses == [True, False]


def run(scenario):
    return asyncio.run(scenario())


def test_items_are_relayed_in_order_then_the_outcome():
    async def scenario():
        queue = ChunkQueue()
        taken = []

        async def invocation():
            queue.begin("text/plain", "$LATEST")
            queue.write(b"a")
            await asyncio.sleep(0.01)
            queue.write(b"b")
            return Outcome(200, "rid")

        async def receive():
            await asyncio.sleep(10)

        async def take(item):
            taken.append(item)

        outcome = await relay(invocation(), queue, receive, take)
        return outcome, taken

    outcome, taken = run(scenario)
    assert outcome == Outcome(200, "rid") and taken == [("text/plain", "$LATEST"), b"a", b"b"]


def test_a_client_leaving_aborts_the_invocation():
    async def scenario():
        queue = ChunkQueue()
        stopped = asyncio.Event()
        queue.attach(stopped.set, lambda paused: None)
        messages = [{"type": "http.request", "body": b""}, {"type": "http.disconnect"}]

        async def invocation():
            queue.write(b"a")
            await stopped.wait()
            return Outcome(200, "rid")

        async def receive():
            await asyncio.sleep(0.01)
            return messages.pop(0)

        async def take(item):
            pass

        return await relay(invocation(), queue, receive, take), stopped.is_set()

    assert run(scenario) == (None, True)


def test_a_reader_gone_before_the_engine_attached_is_aborted_at_attach():
    queue = ChunkQueue()
    queue.abort()
    stopped: list[bool] = []
    queue.attach(lambda: stopped.append(True), lambda paused: None)
    assert stopped == [True]
