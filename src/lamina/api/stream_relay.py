"""Relaying a streamed response from the engine to an HTTP response as it is produced.

`ChunkQueue` is the engine's ResponseStream for one request: the environment hands it the
stream's start and each piece as the runtime sends it (on the event loop, never blocking); `relay`
runs the invocation and gives every queued item to the writer as it arrives, while it watches the
client: a client that disconnects stops the invocation (the engine ends the environment mid-event,
so nothing keeps running for a reader that is gone).
Imports lamina.invoke (the Outcome type) only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from lamina.invoke import Outcome

Begin = tuple[str, str]  # (content type, executed version)
Item = Begin | bytes


class ChunkQueue:
    def __init__(self) -> None:
        self.items: asyncio.Queue[Item] = asyncio.Queue()
        self._abort: Callable[[], None] | None = None

    def begin(self, content_type: str, executed_version: str) -> None:
        self.items.put_nowait((content_type, executed_version))

    def write(self, data: bytes) -> None:
        self.items.put_nowait(data)

    def attach(self, abort: Callable[[], None]) -> None:
        self._abort = abort

    def abort(self) -> None:
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
    try:
        while True:
            if not queue.items.empty():
                await take(queue.items.get_nowait())
                continue
            if task.done():
                return task.result()
            getter = asyncio.ensure_future(queue.items.get())
            done, _ = await asyncio.wait({getter, task, gone}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                await take(getter.result())
                continue
            getter.cancel()
            if gone in done and not task.done():
                queue.abort()
                with contextlib.suppress(Exception):
                    await task
                return None
    finally:
        gone.cancel()
