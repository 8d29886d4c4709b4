"""One environment's log stream: turns what the runtime writes (stdout/stderr bytes, whole log
records, platform lines) into CloudWatch events in order, hands them to the log sink in
batches, and keeps the tail of the invocation that asked for it.

Appending costs a list append; the sink is called once per invocation, never per line. Output
of a handler that runs longer is handed on while it runs: the first line of application output
arms a timer (one per batch) that flushes LIVE_DELAY seconds later, so `aws logs tail --follow`
sees it live; the END flush cancels it. Imports lamina.engine.spec.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable

from lamina.engine.spec import LogBatch, LogEvent, PlatformEvent

log = logging.getLogger("lamina.engine")

_platform_event = tuple.__new__  # PlatformEvent.of without its call
MAX_EVENT_BYTES = 256 * 1024  # CloudWatch's event size: longer unterminated output is cut here
TAIL_CHARS = 4096  # keep at least this many characters (≥ bytes) of the invocation's log
LIVE_DELAY = 0.1  # seconds application output may wait before it is handed to the sink

PROGRAM = 0  # the runtime's sys.stdout / sys.stderr, carried as frames
PROCESS = 1  # fd 1/2 of the process tree (C extensions, subprocesses)


def _cut_point(data: bytes | bytearray) -> int:
    """Where to cut output longer than an event without splitting a UTF-8 character."""
    cut = MAX_EVENT_BYTES
    if len(data) > cut:
        while cut > MAX_EVENT_BYTES - 4 and data[cut] & 0xC0 == 0x80:
            cut -= 1
    return cut


class _Tail:
    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque()
        self._chars = 0

    def add(self, line: str) -> None:
        self.lines.append(line)
        self._chars += len(line) + 1
        while len(self.lines) > 1 and self._chars - len(self.lines[0]) - 1 >= TAIL_CHARS:
            self._chars -= len(self.lines.popleft()) + 1


class LogStream:
    def __init__(self, group: str, stream: str, sink: Callable[[LogBatch], None],
                 on_dirty: Callable[[LogStream], None] | None = None) -> None:
        self.group = group
        self.stream = stream
        self._sink = sink
        self._on_dirty = on_dirty
        self._events: list[LogEvent | PlatformEvent] = []
        self._partial = (bytearray(), bytearray())
        self._cut = [False, False]  # the source's last event was a cut, not a line end
        self._tail: _Tail | None = None
        self._live: asyncio.TimerHandle | None = None

    def line(self, message: str, now: float | None = None) -> None:
        """One event (a platform line, or a whole record from the runtime)."""
        if not self._events and self._on_dirty is not None:
            self._on_dirty(self)
        self._events.append(LogEvent(int((time.time() if now is None else now) * 1000), message))
        if self._tail is not None:
            self._tail.add(message)

    def platform(self, render: Callable[..., str], args: tuple) -> None:
        """A platform line, `render(*args)`: its text is made by whoever reads it (the log sink's
        writer), or now when the invocation's tail is being kept. `render` must depend on nothing
        but its arguments."""
        if self._tail is not None:
            self.line(render(*args))
            return
        if not self._events and self._on_dirty is not None:
            self._on_dirty(self)
        self._events.append(_platform_event(PlatformEvent, (int(time.time() * 1000), render, args)))

    def record(self, text: bytes) -> None:
        """A log record the runtime sent whole: one event, as sent (with its trailing newline, as
        AWS stores a record)."""
        self.line(text.decode("utf-8", "replace"))
        if self._live is None:
            self._arm()

    def output(self, data: bytes, source: int = PROGRAM) -> None:
        """Bytes written to stdout/stderr: every complete line is an event that keeps its `\n` (as
        AWS stores it); a line longer than an event can hold is cut into events of MAX_EVENT_BYTES,
        the last of which keeps the newline."""
        partial = self._partial[source]
        if b"\n" not in data:
            if data:
                partial += data
                self._cut[source] = False
                self._overflow(source)
            return
        now = time.time()
        lines = data.split(b"\n")
        first = bytes(partial) + lines[0] if partial else lines[0]
        partial.clear()
        if first or not self._cut[source]:  # the newline that ends an already cut line adds nothing
            self._emit(first + b"\n", now)
        self._cut[source] = False
        for line in lines[1:-1]:
            self._emit(line + b"\n", now)
        partial += lines[-1]
        self._overflow(source)
        if self._live is None:
            self._arm()

    def _arm(self) -> None:
        """Flush within LIVE_DELAY unless the invocation's END flush comes first."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (unit tests): the caller flushes
            return
        self._live = loop.call_later(LIVE_DELAY, self._flush_live)

    def _flush_live(self) -> None:
        self._live = None
        self.flush()

    def _emit(self, line: bytes, now: float) -> None:
        while len(line) > MAX_EVENT_BYTES:
            cut = _cut_point(line)
            self.line(line[:cut].decode("utf-8", "replace"), now)
            line = line[cut:]
        self.line(line.decode("utf-8", "replace"), now)

    def _overflow(self, source: int) -> None:
        partial = self._partial[source]
        while len(partial) >= MAX_EVENT_BYTES:
            cut = _cut_point(partial)
            self.line(partial[:cut].decode("utf-8", "replace"))
            del partial[:cut]
            self._cut[source] = not partial

    def _flush_partial(self, source: int) -> None:
        partial = self._partial[source]
        if partial:
            self.line(partial.decode("utf-8", "replace"))
            partial.clear()

    def end_of_output(self) -> None:
        """Unterminated output becomes an event of its own (before END, or when the tree ends)."""
        if self._partial[PROGRAM] or self._partial[PROCESS]:
            self._flush_partial(PROGRAM)
            self._flush_partial(PROCESS)
        self._cut[PROGRAM] = self._cut[PROCESS] = False

    def capture(self) -> None:
        """Start keeping the tail of what follows (an invocation that asked for LogType Tail)."""
        self._tail = _Tail()

    def captured(self) -> list[str] | None:
        tail, self._tail = self._tail, None
        return list(tail.lines) if tail is not None else None

    def flush(self) -> None:
        """Hand the pending events to the sink as one batch."""
        if self._live is not None:
            self._live.cancel()
            self._live = None
        if not self._events:
            return
        events, self._events = self._events, []
        try:
            self._sink(LogBatch(self.group, self.stream, tuple(events)))
        except Exception:
            log.exception("the log sink refused %d events of %s", len(events), self.stream)
