"""A fake sandbox backend for the engine's unit tests: no processes, no sockets.

A `Script` says how the fake runtime behaves at init and per event; frames are delivered to the
environment with loop callbacks, exactly as the asyncio socket protocol would deliver them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lamina.engine import protocol
from lamina.engine.engine import Engine
from lamina.engine.sandbox import Launch, Layout, Mounts, Sandbox, SandboxBackend
from lamina.engine.spec import InvokeRequest, RunSpec

_pids = itertools.count(1000)


@dataclass
class Script:
    """init: "ready" | "init_error" | "crash" | "hang". on_event(sandbox, header, payload) answers events.
    retry_init: how an Init retried inside its event goes (suppressed init), when not as `init`."""

    init: str = "ready"
    init_delay: float = 0.0
    on_event: Callable[[FakeSandbox, dict, bytes], None] | None = None
    retry_init: str | None = None
    retry_delay: float = 0.0


def echo(sandbox: FakeSandbox, header: dict, payload: bytes) -> None:
    sandbox.reply(protocol.RESULT, {"rss": 2048}, payload)


def sleepy(seconds: float):
    def answer(sandbox: FakeSandbox, header: dict, payload: bytes) -> None:
        sandbox.later(seconds, protocol.RESULT, {"rss": 2048}, b'"slept"')
    return answer


class FakeChannel:
    def __init__(self, sandbox: FakeSandbox) -> None:
        self._sandbox = sandbox
        self.closed = False

    def send(self, kind: int, header: dict | bytes | None = None, payload: bytes = b"") -> None:
        header = json.loads(header) if isinstance(header, bytes) else header or {}
        self._sandbox.sent.append((kind, header, payload))
        if kind == protocol.INVOKE and self._sandbox.script.on_event is not None:
            self._sandbox.script.on_event(self._sandbox, header, payload)

    def pause(self, paused: bool) -> None:
        self._sandbox.paused.append(paused)

    def close(self) -> None:
        self.closed = True


class FakeSandbox(Sandbox):
    def __init__(self, backend: FakeBackend, launch: Launch) -> None:
        self.pid = next(_pids)
        self.backend = backend
        self.launch = launch
        self.script = backend.script
        self.sent: list[tuple[int, dict | None, bytes]] = []
        self.paused: list[bool] = []
        self.signals: list[str] = []
        self.closed = False
        self._sink = None
        self._status: int | None = None
        self._callbacks: list[Callable[[int], None]] = []
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()

    async def connect(self, sink):
        self._sink = sink
        script = self.script
        init, delay = script.init, script.init_delay
        if self.launch.env.get("_LAMINA_INIT_PHASE") == "invoke" and script.retry_init is not None:
            init, delay = script.retry_init, script.retry_delay
        if init == "ready":
            self.later(delay, protocol.READY, {"rss": 1024}, b"")
        elif init == "init_error":
            body = json.dumps({"errorMessage": "boom", "errorType": "Runtime.ImportModuleError",
                               "requestId": "", "stackTrace": []}).encode()
            self._loop.call_later(delay, self._init_error, body)
        elif init == "crash":
            self._loop.call_later(delay, self.exit, 1)
        return FakeChannel(self)

    def _init_error(self, body: bytes) -> None:
        self.deliver(protocol.RECORD, {}, b"[ERROR] Runtime.ImportModuleError: boom\n")
        self.deliver(protocol.INIT_ERROR, {"type": "Runtime.ImportModuleError"}, body)
        self.exit(1)

    # ---- what the script uses ----

    def deliver(self, kind: int, header: dict, payload: bytes) -> None:
        if self._status is None and self._sink is not None:
            self._sink.frame_received(kind, header, payload, len(payload))

    def reply(self, kind: int, header: dict, payload: bytes) -> None:
        self._loop.call_soon(self.deliver, kind, header, payload)

    def later(self, delay: float, kind: int, header: dict, payload: bytes) -> None:
        self._loop.call_later(delay, self.deliver, kind, header, payload)

    def exit(self, status: int) -> None:
        if self._status is not None:
            return
        self._status = status
        self._exited.set_result(status)
        if self._sink is not None:  # else the environment never connected: it gives up on the channel
            self._sink.connection_lost()
        for callback in self._callbacks:
            callback(status)

    # ---- the Sandbox interface ----

    def drain_output(self) -> None:
        pass

    def add_exit_callback(self, callback: Callable[[int], None]) -> None:
        self._callbacks.append(callback)

    @property
    def returncode(self) -> int | None:
        return self._status

    def terminate(self) -> None:
        self.signals.append("TERM")
        if not self.backend.ignore_term:
            self._loop.call_soon(self.exit, -15)

    def kill(self) -> None:
        self.signals.append("KILL")
        self._loop.call_soon(self.exit, -9)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def peak_memory_kb(self) -> int:
        return 4096

    def close(self) -> None:
        self.closed = True


class FakeBackend(SandboxBackend):
    name = "fake"
    not_enforced = ["everything"]

    def __init__(self, script: Script | None = None, ignore_term: bool = False, start_delay: float = 0.0) -> None:
        self.script = script or Script(on_event=echo)
        self.ignore_term = ignore_term
        self.start_delay = start_delay  # seconds a start takes (a zygote being started, a spawn)
        self.started: list[FakeSandbox] = []
        self.fail_start: OSError | None = None

    def layout(self, mounts: Mounts, interpreter: str) -> Layout:
        return Layout(task_root="/var/task", opt_dirs=("/opt",), runtime_dir="/var/runtime",
                      site_dir="/var/runtime", tmp_dir="/tmp")

    async def start(self, launch: Launch) -> Sandbox:
        if self.start_delay:
            await asyncio.sleep(self.start_delay)
        if self.fail_start is not None:
            raise self.fail_start
        sandbox = FakeSandbox(self, launch)
        self.started.append(sandbox)
        return sandbox


@dataclass
class Rig:
    engine: Engine
    backend: FakeBackend
    batches: list = field(default_factory=list)


def make_engine(tmp_path: Path, backend: FakeBackend, *, limit: int = 10, idle_timeout: float = 60.0,
                init_timeout: float = 10.0, start_concurrency: int = 0) -> Rig:
    batches: list = []
    engine = Engine(backend=backend, concurrency_limit=limit, idle_timeout=idle_timeout,
                    endpoint_url="http://127.0.0.1:9001", region="us-east-1", account_id="000000000000",
                    scratch_dir=tmp_path / "scratch", log_sink=batches.append,
                    runtime_site_dir=tmp_path / "site", init_timeout=init_timeout, stop_grace=0.05,
                    start_concurrency=start_concurrency)
    return Rig(engine, backend, batches)


def spec(name: str = "f", version: str = "$LATEST", revision: str = "r1", timeout: int = 3, **extra) -> RunSpec:
    return RunSpec(function_name=name, version=version, function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
                   revision_id=revision, runtime="python3.12", handler="app.handler", code_dir=Path("/code"),
                   interpreter="/usr/bin/python3.12", timeout_s=timeout, **extra)


def request(request_id: str = "req-1", payload: bytes = b'{"a": 1}', tail: bool = False) -> InvokeRequest:
    return InvokeRequest(request_id=request_id, payload=payload,
                         invoked_arn="arn:aws:lambda:us-east-1:000000000000:function:f", tail=tail)


def run(rig, scenario):
    """Start the rig's engine, run `scenario(engine)` and close the engine, on a fresh event loop."""
    async def main():
        await rig.engine.start()
        try:
            return await scenario(rig.engine)
        finally:  # bounded: a close that never returns (an environment never gone) fails the test
            await asyncio.wait_for(rig.engine.close(), 30)
    return asyncio.run(main())
