"""The platform's lines in one environment's log stream, in their order around each event:
INIT_START and INIT_REPORT; START, written once the INVOKE frame is on its way, or before anything
the runtime sends if that comes sooner (`unstarted`); END and REPORT, deferred until the answer
went out (`pending`, written by `settle`: the environment schedules it for the loop's next turn
and calls it before anything else touches the environment) or written at once; the timeout and
exit lines; START, END and REPORT of an invoke whose environment never initialised.

Text START/END/REPORT are handed to the log stream unformatted (its writer thread makes the text);
JSON lines and the others are made now (`report.Platform`, which also filters JSON by the
SystemLogLevel). The environment sets and checks `pending` and `unstarted` itself (per frame an
attribute read, no call) and hands in `drain`, a callable that reads what the process tree wrote
to fd 1/2 so far. Imports lamina.engine.{logstream, report, spec}.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from lamina.engine import report
from lamina.engine.logstream import LogStream
from lamina.engine.spec import RunSpec

# What END and REPORT say of an event: (request id, duration ms, billed ms, max memory used MB,
# init ms or None, the platform's status or None, error type or None).
Ending = tuple[str, float, int, int, float | None, str | None, str | None]


class PlatformLines:
    """The platform lines of one environment (its spec's log format and memory size)."""

    __slots__ = ("pending", "unstarted", "_log", "_platform", "_json", "_version", "_memory_mb", "_drain")

    def __init__(self, log: LogStream, spec: RunSpec, drain: Callable[[], None]) -> None:
        self.pending: Ending | None = None  # the last event's END and REPORT, until `settle` writes them
        self.unstarted: str | None = None  # the event whose START follows its INVOKE frame
        self._log = log
        self._platform = report.Platform(spec.log_format, spec.system_log_level)
        self._json = self._platform.json
        self._version = spec.version
        self._memory_mb = spec.memory_mb
        self._drain = drain

    def _line(self, line: str | None) -> None:
        if line is not None:  # None: a JSON line the SystemLogLevel leaves out
            self._log.line(line)

    # ---- Init ---------------------------------------------------------------------------------

    def init_start(self, runtime: str, region: str, function_name: str, initialization_type: str) -> None:
        self._line(self._platform.init_start(runtime, region, function_name, self._version, initialization_type))

    def init_report(self, init_ms: float, status: str, error_type: str | None = None, phase: str = "init") -> None:
        """INIT_REPORT of a failed Init: `phase` "invoke" for the one retried inside the event."""
        self._line(self._platform.init_report(init_ms, status, error_type, phase))

    # ---- around each event --------------------------------------------------------------------

    def write_start(self) -> None:
        """START of the `unstarted` event (the caller checked there is one)."""
        rid, self.unstarted = self.unstarted, None
        if self._json:
            self._line(self._platform.start(rid, self._version))  # type: ignore[arg-type]
        else:  # Text: formatted by the log writer (JSON lines carry the time they are made at)
            self._log.platform(report.start, (rid, self._version))

    def settle(self, drain: bool = True) -> None:
        """Write the `pending` END and REPORT, after what the event's process tree wrote to fd 1/2
        before its result (read now, with `drain`: this runs before anything else touches the
        environment). The callback scheduled when the answer was returned passes drain=False: the
        loop has polled since the result arrived (a callback scheduled from a callback runs after
        the loop's next poll), so the output pipe's reader already read what the tree wrote before
        its result (a read here would find it empty: one failed read per invoke)."""
        ending, self.pending = self.pending, None
        if ending is None:
            return
        if drain:
            self._drain()
        self.end(ending)

    def end(self, ending: Ending) -> None:
        """END and REPORT now (after the event's unterminated output), and the batch to the sink."""
        rid, duration, billed, memory, init_ms, status, error_type = ending
        log = self._log
        log.end_of_output()
        if self._json:
            self._line(self._platform.end(rid, duration, status, error_type))
            self._line(self._platform.report(rid, duration, billed, self._memory_mb, memory, init_ms, status,
                                             error_type))
        else:  # Text (as Platform writes it), formatted by the log writer
            log.platform(report.end, (rid,))
            log.platform(report.report, (rid, duration, billed, self._memory_mb, memory, init_ms, status,
                                         error_type if status == "error" else None))
        log.flush()

    def timed_out(self, request_id: str, elapsed_s: float) -> None:
        self._log.line(report.timed_out_line(request_id, elapsed_s, time.time()))

    def exited(self, request_id: str, status: int, error_type: str) -> None:
        """Why the runtime process is gone (its exit status or signal), then the error type."""
        self.failure(request_id, report.exit_reason(status), error_type)

    def failure(self, request_id: str, message: str, error_type: str) -> None:
        """A failure the platform found, `RequestId: <id> Error: <message>`, then the error type."""
        self._log.line(f"RequestId: {request_id} Error: {message}")
        self._log.line(error_type)

    def failed_init(self, request_id: str, duration: float, billed: int, memory: int, status: str,
                    error_type: str) -> None:
        """START, END and REPORT of an invoke whose environment could not be initialised (its
        duration is the failed init's), and the batch to the sink."""
        self._line(self._platform.start(request_id, self._version))
        self._line(self._platform.end(request_id, duration, status, error_type))
        self._line(self._platform.report(request_id, duration, billed, self._memory_mb, memory, None, status,
                                         error_type))
        self._log.flush()
