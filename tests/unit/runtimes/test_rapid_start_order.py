"""rapid's Init start order: without extensions the runtime is started before the Runtime API
listener's thread and the log pumps' threads (each thread start waits for the new thread to be
scheduled, which the runtime's own start need not wait for); with extensions, those threads run
first, since extensions register through the API before the runtime starts."""

from __future__ import annotations

import threading

from rapid_fakes import RAPID, Channel

assert RAPID.is_dir()  # rapid's modules import from here on (rapid_fakes put its directory on sys.path)

import rapid_frames as frames  # noqa: E402
import rapid_supervisor  # noqa: E402


class Runtime:
    """A runtime that keeps running (its watcher's wait never returns: an exit would end rapid)."""

    pid = 0

    def __init__(self) -> None:
        self.gone = threading.Event()

    def wait(self):
        self.gone.wait()
        return 0

    def poll(self):
        return None


def test_the_runtime_starts_before_the_threads_without_extensions(monkeypatch, tmp_path):
    order: list[str] = []
    supervisor = rapid_supervisor.Supervisor(Channel(), {"LAMBDA_TASK_ROOT": str(tmp_path)}, [str(tmp_path / "opt")],
                                             ["/image/entrypoint"], serve=lambda: order.append("serve"))
    runtime = Runtime()

    def start(argv, env, cwd, output, shielded=False):
        order.append("runtime" if argv == ["/image/entrypoint"] else "extension")
        supervisor.state.next()  # the runtime asks for its first event at once
        return runtime

    monkeypatch.setattr(rapid_supervisor.processes, "start", start)
    supervisor.initialise()
    assert order == ["runtime", "serve"]
    assert frames.READY in supervisor.channel.kinds
    assert supervisor.function_output._pumping and supervisor.extension_output._pumping


def test_extensions_find_the_api_served_before_they_start(monkeypatch, tmp_path):
    extension = tmp_path / "opt" / "extensions" / "ext"
    extension.parent.mkdir(parents=True)
    extension.write_text("#!/bin/sh\n")
    extension.chmod(0o755)
    order: list[str] = []
    supervisor = rapid_supervisor.Supervisor(Channel(), {"LAMBDA_TASK_ROOT": str(tmp_path)}, [str(tmp_path / "opt")],
                                             ["/image/entrypoint"], serve=lambda: order.append("serve"))
    runtime = Runtime()

    def start(argv, env, cwd, output, shielded=False):
        order.append("runtime" if argv == ["/image/entrypoint"] else "extension")
        if argv != ["/image/entrypoint"]:  # it registers (and waits for events) before Init goes on
            _, _, registered = supervisor.extensions.register("ext", b"{}")
            registered.ready = True
        else:
            supervisor.state.next()
        return runtime

    monkeypatch.setattr(rapid_supervisor.processes, "start", start)
    supervisor.initialise()
    assert order == ["serve", "extension", "runtime"]
    assert frames.READY in supervisor.channel.kinds
