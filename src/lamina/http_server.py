"""The HTTP server on lamina's one port and its stop within the grace period.

Runs uvicorn over the app, with each response's head held back until its first body part so both
leave in one write (`OneWriteProtocol`, a subclass of uvicorn's httptools protocol). On the first
SIGTERM/SIGINT uvicorn stops accepting at once, and the end of the grace for invokes in flight is scheduled `stopping.drain_seconds` later (the grace
minus the reserve for ending every environment); when it comes, `end_of_grace` runs (the server
gives running async attempts back and answers the invokes still running). Imports
lamina.stopping only (and uvicorn); what the end of the grace does is handed in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lamina import stopping

_JOIN_BELOW = 65536  # a body part at least this large goes out beside the head (no copy), not joined to it


class _HeadHeld:
    """One response's view of the connection's transport: the head (the first write once the
    response started) is held until the next write, so head and body leave in one write, one
    segment and one wake-up of the client instead of two. A head no body follows in the same
    turn of the loop (a stream waiting for its first chunk, a HEAD answer) goes out at the end of
    that turn; closing sends it first. Everything else passes through."""

    __slots__ = ("_transport", "_cycle", "_loop", "_head", "_fresh")

    def __init__(self, transport: asyncio.Transport, cycle, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._cycle = cycle
        self._loop = loop
        self._head: bytes | None = None
        self._fresh = True  # the response's head has not been written yet

    def write(self, data: bytes) -> None:
        if self._fresh and self._cycle.response_started:  # uvicorn writes the head first
            self._fresh = False
            self._head = data
            self._loop.call_soon(self.flush)
            return
        head = self._head
        if head is None:
            self._transport.write(data)
            return
        self._head = None
        if len(data) < _JOIN_BELOW:
            self._transport.write(head + data)
        else:
            self._transport.writelines((head, data))

    def flush(self) -> None:
        head, self._head = self._head, None
        if head is not None:
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose responses leave in one write (head and body together)."""

    def _start_asgi_task(self, cycle, app) -> None:
        cycle.transport = _HeadHeld(cycle.transport, cycle, self.loop)
        super()._start_asgi_task(cycle, app)


class _Uvicorn(uvicorn.Server):
    """uvicorn re-raises a caught SIGTERM/SIGINT after shutting down, which would kill the process
    before lamina's own shutdown (environments, buffers) runs; lamina stops itself instead.
    `on_stop` is called (once) when the first stop signal arrives."""

    on_stop: Callable[[], None] | None = None

    def handle_exit(self, sig, frame) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()
        on_stop, self.on_stop = self.on_stop, None
        if on_stop is not None:
            on_stop()


class HttpServer:
    def __init__(self, app, *, host: str, port: int, grace_s: float, environments: Callable[[], int],
                 end_of_grace: Callable[[], Awaitable[None]]) -> None:
        # uvicorn cancels what is still running once the longest drain is over (a backstop: the
        # engine answers them when the drain ends)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, http=OneWriteProtocol,
                                lifespan="off", timeout_graceful_shutdown=stopping.drain_seconds(grace_s, 0) + 0.5)
        self._server = _Uvicorn(config)
        self._grace_s = grace_s
        self._environments = environments
        self._end_of_grace = end_of_grace
        self._timer: asyncio.TimerHandle | None = None
        self._ending: asyncio.Task | None = None
        self._closing = False

    async def run(self, on_started: Callable[[], None]) -> bool:
        """Serve until a stop signal; `on_started` once the port listens. Whether it ever listened."""
        loop = asyncio.get_running_loop()
        # Signal handlers run between the loop's callbacks: schedule the end of the grace from there.
        self._server.on_stop = lambda: loop.call_soon_threadsafe(self._stopping, loop)
        watcher = asyncio.create_task(self._announce_when_started(on_started))
        try:
            await self._server.serve()
        finally:
            watcher.cancel()
        return bool(self._server.started)

    async def settle(self) -> bool:
        """After `run`: no grace timer left pending; waits for the end of the grace if it began.
        Whether it ran (then what it does is done)."""
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()  # every connection finished before the grace's end
        if self._ending is None:
            return False
        await self._ending
        return True

    def _stopping(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._closing:
            drain = stopping.drain_seconds(self._grace_s, self._environments())
            self._timer = loop.call_later(drain, self._grace_over, loop)

    def _grace_over(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._closing:
            self._ending = loop.create_task(self._end_of_grace())

    async def _announce_when_started(self, on_started: Callable[[], None]) -> None:
        while not self._server.started:
            if self._server.should_exit:
                return
            await asyncio.sleep(0.01)
        on_started()
