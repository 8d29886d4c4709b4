"""Relaying a streamed response from the engine to an HTTP response as it is produced.

`ChunkQueue` is the engine's ResponseStream for one request: the environment hands it the
stream's start and each piece as the runtime sends it (on the event loop, never blocking); `relay`
runs the invocation and gives every queued item to the writer as it arrives, while it watches the
client: a client that disconnects stops the invocation (the engine ends the environment mid-event,
so nothing keeps running for a reader that is gone).

Limits (reference 2.10): the first 6 MB of a response go out at full speed, the rest at most
2 MB/s (`Pace`, a pure schedule); while more than 1 MiB waits for a slow client the runtime is held
back (the engine stops reading its frames), so a stream never buffers its whole body here. The
200 MB maximum is the engine's.
Imports lamina.invoke (the Outcome type) only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from lamina.invoke import Outcome

Begin = tuple[str, str]  # (content type, executed version)
Item = Begin | bytes
UNCAPPED_BYTES = 6 * 1024 * 1024  # sent at full speed
CAPPED_RATE = 2 * 1024 * 1024  # bytes per second after that
HIGH_WATER = 1 << 20  # queued bytes above which the runtime is held back
LOW_WATER = 1 << 18  # ... and below which it goes on


def pace_delay(sent: int, since: float, now: float, uncapped: int = UNCAPPED_BYTES, rate: int = CAPPED_RATE) -> float:
    """Seconds to wait before sending more, `sent` bytes having gone out since `since` (the time the
    first byte went)."""
    if sent <= uncapped:
        return 0.0
    return max(0.0, since + (sent - uncapped) / rate - now)


class ChunkQueue:
    def __init__(self) -> None:
        self.items: asyncio.Queue[Item] = asyncio.Queue()
        self.queued = 0  # bytes waiting
        self._abort: Callable[[], None] | None = None
        self._pause: Callable[[bool], None] | None = None
        self._paused = False
        self._aborted = False  # the reader left before the engine attached (e.g. during a cold start)

    def begin(self, content_type: str, executed_version: str) -> None:
        self.items.put_nowait((content_type, executed_version))

    def write(self, data: bytes) -> None:
        self.items.put_nowait(data)
        self.queued += len(data)
        if self.queued > HIGH_WATER and not self._paused and self._pause is not None:
            self._paused = True
            self._pause(True)

    def attach(self, abort: Callable[[], None], pause: Callable[[bool], None]) -> None:
        self._abort = abort
        self._pause = pause
        if self._aborted:
            self.abort()

    def taken(self, item: Item) -> None:
        if isinstance(item, bytes):
            self.queued -= len(item)
            if self._paused and self.queued < LOW_WATER and self._pause is not None:
                self._paused = False
                self._pause(False)

    def abort(self) -> None:
        self._aborted = True
        abort, self._abort = self._abort, None
        if abort is not None:
            abort()


async def _disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def relay(invocation: Awaitable[Outcome], queue: ChunkQueue, receive,
                take: Callable[[Item], Awaitable[None]]) -> Outcome | None:
    """Run `invocation`, handing each item of `queue` to `take` as it arrives; its Outcome once every
    item was taken, or None when the client left first (the invocation is then stopped). A
    LambdaError of the invocation is raised after the items before it were taken."""
    task = asyncio.ensure_future(invocation)
    gone = asyncio.ensure_future(_disconnect(receive))
    loop = asyncio.get_running_loop()
    sent, since = 0, 0.0

    async def give(item: Item) -> None:
        nonlocal sent, since
        queue.taken(item)
        if isinstance(item, bytes):
            if not sent:
                since = loop.time()
            sent += len(item)
            delay = pace_delay(sent, since, loop.time())
            if delay:
                await asyncio.sleep(delay)
        await take(item)

    try:
        while True:
            if not queue.items.empty():
                await give(queue.items.get_nowait())
                continue
            if task.done():
                return task.result()
            getter = asyncio.ensure_future(queue.items.get())
            done, _ = await asyncio.wait({getter, task, gone}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                await give(getter.result())
                continue
            getter.cancel()
            if gone in done and not task.done():
                queue.abort()
                with contextlib.suppress(Exception):
                    await task
                return None
    finally:
        gone.cancel()
