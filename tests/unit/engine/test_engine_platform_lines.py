"""The platform lines of one environment's log stream (lamina.engine.platform_lines): which lines
each log format and SystemLogLevel writes around an event, and their order against the event's
own output when END and REPORT wait for the answer to go out. A real LogStream and report.Platform;
`pending` and the scheduled `settle` set as the environment sets them, on a loop that only records."""

from __future__ import annotations

import json

import pytest
from engine_fakes import spec

from lamina.engine.logstream import LogStream
from lamina.engine.platform_lines import PlatformLines

ENDING = ("r1", 12.5, 13, 40, None, None, None)  # a success without Init


class Loop:
    def __init__(self) -> None:
        self.soon: list[tuple] = []

    def call_soon(self, callback, *args) -> None:
        self.soon.append((callback, args))

    def run_soon(self) -> None:
        soon, self.soon = self.soon, []
        for callback, args in soon:
            callback(*args)


def make(log_format: str = "Text", system_level: str | None = None, drained: bytes = b""):
    """Lines over a real stream; `drain` reads `drained` as the process tree's fd 1/2 output."""
    batches: list = []
    log = LogStream("/aws/lambda/f", "2024/01/01/[$LATEST]x", batches.append)
    drains: list[int] = []

    def drain() -> None:
        drains.append(1)
        if drained:
            log.output(drained)

    loop = Loop()
    lines = PlatformLines(log, spec(log_format=log_format, system_log_level=system_level, memory_mb=256), drain)
    return lines, log, batches, loop, drains


def messages(batches) -> list[str]:
    return [event.message for batch in batches for event in batch.events]


def kinds(batches) -> list[str]:
    """Each line's JSON `type`, or its first word (output: "out")."""
    found = []
    for message in messages(batches):
        if message.startswith("{"):
            found.append(json.loads(message)["type"])
        else:
            found.append(message.split()[0] if message.split() else "")
    return found


def after_answer(lines: PlatformLines, loop: Loop) -> None:
    """What the environment does when it returns an answer: END and REPORT wait (drain=False)."""
    lines.pending = ENDING
    loop.call_soon(lines.settle, False)


def one_event(lines: PlatformLines, log: LogStream, ending=ENDING) -> None:
    lines.unstarted = ending[0]
    lines.write_start()
    log.output(b"out\n")
    lines.end(ending)


@pytest.mark.parametrize(("log_format", "level", "written"), [
    ("Text", None, ["START", "out", "END", "REPORT"]),
    ("JSON", None, ["platform.start", "out", "platform.report"]),
    ("JSON", "INFO", ["platform.start", "out", "platform.report"]),
    ("JSON", "DEBUG", ["platform.start", "out", "platform.runtimeDone", "platform.report"]),
    ("JSON", "WARN", ["out"]),
])
def test_the_lines_around_an_event_by_format_and_system_level(log_format, level, written):
    lines, log, batches, _, _ = make(log_format, level)
    one_event(lines, log)
    assert kinds(batches) == written  # and END flushed the batch: no flush by the caller
    assert lines.unstarted is None and lines.pending is None


def test_text_lines_read_as_aws_writes_them():
    lines, log, batches, _, _ = make()
    one_event(lines, log, ("r1", 12.5, 13, 40, 101.25, None, None))
    assert messages(batches) == [
        "START RequestId: r1 Version: $LATEST", "out\n", "END RequestId: r1",
        "REPORT RequestId: r1\tDuration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\t"
        "Max Memory Used: 40 MB\tInit Duration: 101.25 ms"]


@pytest.mark.parametrize(("status", "error_type", "tail"), [
    (None, "Handled", ""),  # the function's own error: Text leaves it out
    ("error", "Runtime.ExitError", "\tStatus: error\tError Type: Runtime.ExitError"),
    ("timeout", "Sandbox.Timedout", "\tStatus: timeout"),
])
def test_text_report_names_the_platforms_errors_only(status, error_type, tail):
    lines, log, batches, _, _ = make()
    lines.end(("r1", 1.0, 1, 40, None, status, error_type))
    assert messages(batches)[-1].endswith("Max Memory Used: 40 MB" + tail)


def test_end_and_report_wait_for_the_scheduled_callback_which_does_not_drain():
    lines, log, batches, loop, drains = make(drained=b"late\n")
    one_event_started(lines, log)
    after_answer(lines, loop)
    log.flush()
    assert kinds(batches) == ["START", "out"] and lines.pending == ENDING
    loop.run_soon()  # the loop polled since the result: its output pipe was read already
    assert kinds(batches) == ["START", "out", "END", "REPORT"] and drains == []
    assert lines.pending is None


def test_whatever_touches_the_environment_first_settles_after_draining_its_output():
    lines, log, batches, loop, drains = make(drained=b"written before the result\n")
    one_event_started(lines, log)
    after_answer(lines, loop)
    lines.settle()  # the next event (or a frame, a state change) before the callback
    assert kinds(batches) == ["START", "out", "written", "END", "REPORT"] and drains == [1]
    loop.run_soon()  # the callback finds nothing left to write
    assert len(messages(batches)) == 5 and drains == [1]


def test_settle_without_a_pending_event_writes_nothing():
    lines, _, batches, _, drains = make()
    lines.settle()
    assert batches == [] and drains == []


def test_end_writes_unterminated_output_before_end():
    lines, log, batches, _, _ = make()
    log.output(b"no newline")
    lines.end(ENDING)
    assert kinds(batches) == ["no", "END", "REPORT"]


def test_an_init_that_failed_gets_start_end_and_report_with_its_status():
    lines, _, batches, _, _ = make()
    lines.init_report(3000.0, "timeout")
    lines.failed_init("r1", 3000.0, 3000, 40, "timeout", "Sandbox.Timedout")
    assert messages(batches) == [
        "INIT_REPORT Init Duration: 3000.00 ms\tPhase: init\tStatus: timeout",
        "START RequestId: r1 Version: $LATEST", "END RequestId: r1",
        "REPORT RequestId: r1\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 256 MB\t"
        "Max Memory Used: 40 MB\tStatus: timeout"]


def test_a_retried_init_that_failed_too_reports_phase_invoke_and_its_event_lines():
    lines, _, batches, _, _ = make()
    lines.init_report(12.5, "error", "Runtime.InvalidEntrypoint", "invoke")
    lines.unstarted = "r1"
    lines.write_start()
    lines.failure("r1", "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]",
                  "Runtime.InvalidEntrypoint")
    lines.end(("r1", 12.5, 13, 2, None, "error", "Runtime.InvalidEntrypoint"))
    assert messages(batches) == [
        "INIT_REPORT Init Duration: 12.50 ms\tPhase: invoke\tStatus: error\tError Type: Runtime.InvalidEntrypoint",
        "START RequestId: r1 Version: $LATEST",
        "RequestId: r1 Error: Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]",
        "Runtime.InvalidEntrypoint", "END RequestId: r1",
        "REPORT RequestId: r1\tDuration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\t"
        "Max Memory Used: 2 MB\tStatus: error\tError Type: Runtime.InvalidEntrypoint"]


def test_exit_and_timeout_lines():
    lines, log, batches, _, _ = make()
    lines.exited("r1", -9, "Runtime.OutOfMemory")
    lines.timed_out("r1", 3.0049)
    log.flush()
    exited, error_type, timed_out = messages(batches)
    assert (exited, error_type) == ("RequestId: r1 Error: Runtime exited with error: signal: killed",
                                    "Runtime.OutOfMemory")
    assert timed_out.endswith("Z r1 Task timed out after 3.00 seconds")


@pytest.mark.parametrize(("runtime", "written"), [("python3.12", ["INIT_START"]), ("", [])])
def test_init_start_names_a_managed_runtime_only(runtime, written):
    lines, log, batches, _, _ = make()
    lines.init_start(runtime, "us-east-1", "f", "on-demand")
    log.flush()
    assert kinds(batches) == written


def one_event_started(lines: PlatformLines, log: LogStream) -> None:
    lines.unstarted = "r1"
    lines.write_start()
    log.output(b"out\n")
