"""The HTTP server on lamina's one port and its stop within the grace period.

Runs uvicorn over the app, with each response's head held back until its first body part so both
leave in one write (`OneWriteProtocol`, a subclass of uvicorn's httptools protocol). Requests a
`DirectLane` claims (Invoke, lamina.api.pipeline) skip the ASGI cycle: the protocol collects the
body, awaits the lane's answer and writes it as uvicorn writes a response. On the first
SIGTERM/SIGINT uvicorn stops accepting at once, `on_stopping` is called (the server's event queue
starts no more attempts), and the end of the grace for invokes in flight is scheduled `stopping.drain_seconds` later (the grace
minus the reserve for ending every environment); when it comes, `end_of_grace` runs (the server
gives running async attempts back and answers the invokes still running). Imports
lamina.stopping only (and uvicorn); what the end of the grace does is handed in.
"""

from __future__ import annotations

import asyncio
import functools
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, STATUS_LINE, HttpToolsProtocol

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


class DirectLane(Protocol):
    """Requests the server answers without an ASGI cycle (lamina.api.pipeline.Pipeline): `claim`
    decides from the request head (a ticket, else None: the ASGI app gets the request), `answer`
    gives (status, headers with content-length, body) once the whole body is read; `answer_now`
    may take the request without a coroutine instead (False: it did not, `answer` then), and hands
    that answer to `respond` later, from the loop."""

    def claim(self, method: str, path: str, query: bytes, headers: list[tuple[bytes, bytes]],
              client: tuple[str, int] | None, raw_path: bytes) -> Any: ...

    async def answer(self, ticket: Any, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]: ...

    def answer_now(self, ticket: Any, body: bytes,
                   respond: Callable[[tuple[int, list[tuple[bytes, bytes]], bytes]], None]) -> bool: ...

    def abandoned(self, ticket: Any) -> None: ...


class _NoEvent:
    """What uvicorn's callbacks `set()` on a cycle: a direct request has no one waiting on it."""

    __slots__ = ()

    def set(self) -> None:
        pass


_NO_EVENT = _NoEvent()
# Heads the direct lane leaves to the ASGI path: uvicorn's proxy-headers middleware rewrites the
# client from them, and a chunked body is capped while it streams in.
_DECLINED = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"transfer-encoding"})


class _DirectCycle:
    """A request of the direct lane as uvicorn's protocol callbacks see a cycle (body, more_body,
    response_complete, disconnected, keep_alive, message_event)."""

    __slots__ = ("ticket", "body", "more_body", "response_complete", "disconnected", "keep_alive", "message_event")

    def __init__(self, ticket: Any, keep_alive: bool) -> None:
        self.ticket = ticket
        self.body = bytearray()
        self.more_body = True
        self.response_complete = False
        self.disconnected = False
        self.keep_alive = keep_alive
        self.message_event = _NO_EVENT


class OneWriteProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose responses leave in one write (head and body together).
    With a `direct` lane, the requests it claims skip the ASGI cycle: their body is collected,
    the lane answers, and the answer is written as uvicorn would write it (default headers,
    connection: close when the connection does not stay open), in one write."""

    direct: DirectLane | None = None

    def _start_asgi_task(self, cycle, app) -> None:
        cycle.transport = _HeadHeld(cycle.transport, cycle, self.loop)
        super()._start_asgi_task(cycle, app)

    def on_message_begin(self) -> None:
        # uvicorn builds the request's ASGI scope here; a request the direct lane takes needs none,
        # so it is built in on_headers_complete once the request goes the ASGI way
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self.scope = None  # type: ignore[assignment]

    def _build_scope(self) -> None:
        """uvicorn's scope of the request whose head was just parsed (its on_message_begin builds
        it; what that resets is kept)."""
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.headers, self.expect_100_continue = url, headers, expect
        self.scope["headers"] = headers

    def on_headers_complete(self) -> None:
        lane = self.direct
        if lane is not None and (self.cycle is None or self.cycle.response_complete):
            cycle = self._direct_cycle(lane)
            if cycle is not None:
                self.cycle = cycle
                return
        if self.scope is None:
            self._build_scope()
        super().on_headers_complete()

    def _direct_cycle(self, lane: DirectLane) -> _DirectCycle | None:
        parser = self.parser
        if (parser.get_method() != b"POST" or self.expect_100_continue or parser.should_upgrade()
                or self.limit_concurrency is not None):
            return None
        for name, _ in self.headers:
            if name in _DECLINED:
                return None
        parsed = httptools.parse_url(self.url)
        raw_path = parsed.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        ticket = lane.claim("POST", self.root_path + path, parsed.query or b"", self.headers, self.client,
                            self.root_path.encode("ascii") + raw_path)
        if ticket is None:
            return None
        keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
        return _DirectCycle(ticket, keep_alive)

    # The keep-alive timeout without a timer per request: uvicorn arms one as each response
    # completes and cancels it as the next request arrives (an allocation, a libuv timer started,
    # stopped and closed per request). Here the timer, once armed, stays; when it fires it closes
    # the connection if it has been idle for the whole timeout, or waits for the rest of it.
    _idle_since: float | None = None  # loop time the last response completed; None while a request is under way

    def _unset_keepalive_if_required(self) -> None:
        self._idle_since = None

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._idle_since = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_due)

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        idle_since = self._idle_since
        if idle_since is None:  # a request is under way: its response arms the timer again
            return
        left = idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_due)
        else:
            self.timeout_keep_alive_handler()

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if type(cycle) is _DirectCycle:  # within the cap Content-Length announced: no backpressure needed
            if not cycle.response_complete:
                cycle.body += body
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if type(cycle) is _DirectCycle:
            cycle.more_body = False
            lane = self.direct
            if not self.flow.write_paused and lane.answer_now(  # type: ignore[union-attr]
                    cycle.ticket, bytes(cycle.body), functools.partial(self._answered, cycle)):
                cycle.body = bytearray()
                return
            task = self.loop.create_task(self._answer(cycle, lane))  # type: ignore[arg-type]
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)
            return
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        cycle = self.cycle
        if type(cycle) is _DirectCycle and cycle.more_body and self.direct is not None:
            self.direct.abandoned(cycle.ticket)
        super().connection_lost(exc)
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    async def _answer(self, cycle: _DirectCycle, lane: DirectLane) -> None:
        try:
            status, headers, body = await lane.answer(cycle.ticket, bytes(cycle.body))
            cycle.body = bytearray()
            if self.flow.write_paused and not cycle.disconnected:
                await self.flow.drain()
        except BaseException as exc:  # as uvicorn answers an app that raised
            self.logger.error("Exception in ASGI application\n", exc_info=exc)
            status, headers, body = 500, _INTERNAL_HEADERS, b"Internal Server Error"
            cycle.keep_alive = False
        self._write(cycle, status, headers, body)

    def _answered(self, cycle: _DirectCycle, answer: tuple[int, list[tuple[bytes, bytes]], bytes]) -> None:
        """The lane's answer to a request `answer_now` took."""
        self._write(cycle, *answer)

    def _write(self, cycle: _DirectCycle, status: int, headers: list[tuple[bytes, bytes]] | bytes, body: bytes) -> None:
        """A direct request's answer, written as uvicorn writes a response (unless its client left).
        `headers` may be rendered already (`name: value` lines, lower-case names, values the lane
        made and checked, content-length included, none asking to close)."""
        if cycle.disconnected:
            return
        defaults = _defaults(self.server_state.default_headers)
        rendered = type(headers) is bytes
        # uvicorn's checks of each name and value (each pattern is one character class, so one
        # search over them all finds what a search of each would); uvicorn then drops the connection
        if defaults.invalid or not rendered and (
                HEADER_RE.search(b"".join([name for name, _ in headers]))
                or HEADER_VALUE_RE.search(b"".join([value for _, value in headers]))):
            self.logger.error("Exception in ASGI application\n", exc_info=RuntimeError("Invalid HTTP header."))
            self.transport.close()
            return
        closes = defaults.closes
        if rendered:
            lines = headers
        else:
            content = []
            for name, value in headers:
                name = name.lower()
                if name == b"connection" and _closes(value):
                    closes = True
                content.extend((name, b": ", value, b"\r\n"))
            lines = b"".join(content)
        if closes:
            cycle.keep_alive = False
        elif not cycle.keep_alive:
            lines += b"connection: close\r\n"
        if len(body) < _JOIN_BELOW:
            self.transport.write(b"%s%s%s\r\n%s" % (STATUS_LINE[status], defaults.lines, lines, body))
        else:
            self.transport.writelines((b"%s%s%s\r\n" % (STATUS_LINE[status], defaults.lines, lines), body))
        self._written(cycle)

    def _written(self, cycle: _DirectCycle) -> None:
        cycle.response_complete = True
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()


def _closes(value: bytes) -> bool:
    """Whether a Connection header's value asks to close (as uvicorn reads it)."""
    return b"close" in [token.lower().strip() for token in value.split(b",")]


class _Defaults:
    """uvicorn's default headers (server, date, --header), as one response head writes them:
    their lines, whether one asks to close the connection, whether one fails uvicorn's checks."""

    __slots__ = ("source", "lines", "closes", "invalid")

    def __init__(self, source: list[tuple[bytes, bytes]]) -> None:
        self.source = source  # held, so its id is not reused while it is cached
        self.lines = b"".join(b"%s: %s\r\n" % (name.lower(), value) for name, value in source)
        self.closes = any(name.lower() == b"connection" and _closes(value) for name, value in source)
        self.invalid = bool(HEADER_RE.search(b"".join(name for name, _ in source))
                            or HEADER_VALUE_RE.search(b"".join(value for _, value in source)))


_last_defaults = _Defaults([])


def _defaults(source: list[tuple[bytes, bytes]]) -> _Defaults:
    """The default headers' lines, built again only when uvicorn replaces the list (each second,
    for the date)."""
    global _last_defaults
    cached = _last_defaults
    if cached.source is not source:
        cached = _last_defaults = _Defaults(source)
    return cached


_INTERNAL_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21"),
                     (b"connection", b"close")]


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
                 end_of_grace: Callable[[], Awaitable[None]], direct: DirectLane | None = None,
                 on_stopping: Callable[[], None] | None = None) -> None:
        protocol = OneWriteProtocol if direct is None else type(
            "DirectProtocol", (OneWriteProtocol,), {"direct": direct})
        # uvicorn cancels what is still running once the longest drain is over (a backstop: the
        # engine answers them when the drain ends)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, http=protocol,
                                lifespan="off", timeout_graceful_shutdown=stopping.drain_seconds(grace_s, 0) + 0.5)
        self._server = _Uvicorn(config)
        self._grace_s = grace_s
        self._environments = environments
        self._end_of_grace = end_of_grace
        self._on_stopping = on_stopping
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
        if self._on_stopping is not None:
            self._on_stopping()
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
