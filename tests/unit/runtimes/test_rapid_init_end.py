"""How rapid's Init ends when the runtime exits right after it: exactly one thread ends rapid, after
the frame that says what Init came to. A runtime that posts init/error and exits at once (AWS's
shell tutorial does: `curl …/init/error; exit 1`) must still be reported as its error type; the
runtime's watcher thread used to see Init over and end rapid with the runtime's status first, so
the engine heard "exit status 1" (Runtime.ExitError) on a loaded host."""

from __future__ import annotations

import threading
import time

import pytest
from rapid_fakes import RAPID, Channel

assert RAPID.is_dir()  # rapid's modules import from here on (rapid_fakes put its directory on sys.path)

import rapid_frames as frames  # noqa: E402
import rapid_supervisor  # noqa: E402


class ExitingRuntime:
    """A runtime whose process is gone once `gone` is set (its watcher's wait returns then)."""

    pid = 0

    def __init__(self, status: int) -> None:
        self.status = status
        self.gone = threading.Event()

    def wait(self):
        self.gone.wait()
        return self.status

    def poll(self):
        return self.status if self.gone.is_set() else None


@pytest.fixture
def exits(monkeypatch):
    """rapid's exits, (thread, status, frames sent by then), in place of os._exit: the test's
    thread gets SystemExit, another thread stays where it is until the test ends (as if the process
    had ended there)."""
    seen: list = []
    ended = threading.Event()

    def record(status):
        seen.append((threading.current_thread().name, status, channel.kinds))
        if threading.current_thread() is threading.main_thread():
            raise SystemExit(status)
        ended.wait()

    channel = Channel()
    monkeypatch.setattr(rapid_supervisor.os, "_exit", record)
    monkeypatch.setattr(rapid_supervisor.telemetry.Telemetry, "close", lambda self, timeout: None)
    yield channel, seen
    ended.set()


def _supervisor(channel, tmp_path):
    return rapid_supervisor.Supervisor(channel, {"LAMBDA_TASK_ROOT": str(tmp_path)}, [str(tmp_path / "opt")],
                                       ["/image/entrypoint"], serve=lambda: None)


def _watchers_done() -> None:
    """The runtime's watcher has seen it gone (and ended rapid, or not) by now."""
    time.sleep(0.3)


def test_an_init_error_is_sent_when_the_runtime_exits_before_rapid_reports_it(monkeypatch, tmp_path, exits):
    channel, seen = exits
    supervisor = _supervisor(channel, tmp_path)
    runtime = ExitingRuntime(1)

    def start(argv, env, cwd, output, shielded=False):
        status, _, _ = supervisor.runtime_init_error(
            {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"},
            b'{"errorMessage": "Unable to import module", "errorType": "Runtime.ImportModuleError"}')
        assert status == 202
        return runtime

    reporting = supervisor._init_done

    def slow_report(status, error_type):  # the runtime exits (and its watcher runs) while rapid reports
        runtime.gone.set()
        time.sleep(0.3)
        reporting(status, error_type)

    monkeypatch.setattr(rapid_supervisor.processes, "start", start)
    monkeypatch.setattr(supervisor, "_init_done", slow_report)
    with pytest.raises(SystemExit):
        supervisor.initialise()
    _watchers_done()
    assert [(thread, status) for thread, status, _ in seen] == [("MainThread", 1)]
    assert frames.INIT_ERROR in seen[0][2]


def test_a_runtime_that_exits_just_after_init_ends_rapid_once(monkeypatch, tmp_path, exits):
    channel, seen = exits
    supervisor = _supervisor(channel, tmp_path)
    runtime = ExitingRuntime(3)

    def start(argv, env, cwd, output, shielded=False):
        supervisor.state.next()  # Init is done: it asks for its first event ...
        return runtime

    sending = channel.send

    def send(kind, header=None, payload=b""):
        sending(kind, header, payload)
        if kind == frames.READY:  # ... and exits as READY goes out
            runtime.gone.set()
            time.sleep(0.2)

    monkeypatch.setattr(rapid_supervisor.processes, "start", start)
    monkeypatch.setattr(channel, "send", send)
    try:
        supervisor.initialise()
    except SystemExit:
        pass
    _watchers_done()
    assert [status for _, status, _ in seen] == [3]
    assert frames.READY in seen[0][2]
