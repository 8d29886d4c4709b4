"""The `process` sandbox backend: each environment is a plain child process (its own session and
process group) with a few rlimits. It isolates almost nothing, says so in `not_enforced`, and is
the last resort where neither namespaces nor bubblewrap are available.

Owns spawning, the socketpair and output pipe handed to the child, exit detection (pidfd),
killing the whole process group and peak-memory readings from /proc. Imports lamina.engine.sandbox
and lamina.engine.protocol only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

from lamina.engine.protocol import Channel, FrameSink, connect_socket
from lamina.engine.sandbox import Launch, Layout, Mounts, Sandbox, SandboxBackend

FD_VARIABLE = "_LAMINA_RUNTIME_FD"  # tells the runtime which inherited fd is its channel
OPEN_FILES = 1024  # Lambda's per-environment file descriptor limit
_CHUNK = 65536


class ProcessSandbox(Sandbox):
    def __init__(self, proc: subprocess.Popen, sock: socket.socket, output_fd: int) -> None:
        self.pid = proc.pid
        self._proc = proc
        self._sock: socket.socket | None = sock
        self._out: int | None = output_fd
        self._chunk = bytearray(_CHUNK)  # read into, never allocated per read
        self._sink: FrameSink | None = None
        self._channel: Channel | None = None
        self._callbacks: list[Callable[[int], None]] = []
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()
        self._pidfd: int | None = None
        self._poller: asyncio.TimerHandle | None = None
        try:
            self._pidfd = os.pidfd_open(self.pid)
            self._loop.add_reader(self._pidfd, self._on_exit)
        except (AttributeError, OSError):
            self._poller = self._loop.call_later(0.05, self._poll)

    async def connect(self, sink: FrameSink) -> Channel:
        self._sink = sink
        if self._out is not None:
            os.set_blocking(self._out, False)
            self._loop.add_reader(self._out, self.drain_output)
        sock, self._sock = self._sock, None
        self._channel = await connect_socket(sock, sink)
        return self._channel

    def drain_output(self) -> None:
        while self._out is not None:
            try:
                count = os.readv(self._out, (self._chunk,))
            except BlockingIOError:
                return
            except OSError:
                count = 0
            if not count:
                self._close_output()
                return
            if self._sink is not None:
                self._sink.output_received(bytes(self._chunk[:count]))
            if count < _CHUNK:
                return

    def _close_output(self) -> None:
        if self._out is not None:
            self._loop.remove_reader(self._out)
            os.close(self._out)
            self._out = None

    def _poll(self) -> None:
        try:
            exited = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            exited = True
        if exited:
            self._on_exit()
        else:
            self._poller = self._loop.call_later(0.05, self._poll)

    def _on_exit(self) -> None:
        """The leader exited (still a zombie, so its process group id is still ours): end the rest
        of the group, reap the leader, drain what it wrote, tell the listeners."""
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._signal_group(signal.SIGKILL)
        try:
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            code = self._proc.returncode if self._proc.returncode is not None else -signal.SIGKILL
        self._proc.returncode = code
        self.drain_output()
        if not self._exited.done():
            self._exited.set_result(code)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(code)

    def add_exit_callback(self, callback: Callable[[int], None]) -> None:
        if self._exited.done():
            self._loop.call_soon(callback, self._exited.result())
        else:
            self._callbacks.append(callback)

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def terminate(self) -> None:
        if not self._exited.done():
            self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        if not self._exited.done():
            self._signal_group(signal.SIGKILL)

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def peak_memory_kb(self) -> int:
        try:
            with open(f"/proc/{self.pid}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"VmHWM:"):
                        return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return 0

    def close(self) -> None:
        self._close_output()
        if self._poller is not None:
            self._poller.cancel()
        if self._channel is not None:
            self._channel.close()
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class ProcessBackend(SandboxBackend):
    name = "process"
    not_enforced = [
        "filesystem isolation (functions see and can write the host's files as lamina's user; "
        "/var/task and /opt are host paths)",
        "private /tmp (TMPDIR points at a per-environment directory, but /tmp is the host's)",
        "memory limit (MemorySize is reported, not enforced)",
        "ephemeral storage limit",
        "pid namespace (functions see host processes)",
        "network isolation",
        "unprivileged uid, capability drop and seccomp (functions run as lamina's own user)",
        "cpu share",
    ]

    def layout(self, mounts: Mounts, interpreter: str) -> Layout:
        bin_dir = Path(interpreter).parent
        return Layout(
            task_root=str(mounts.code_dir),
            opt_dirs=tuple(str(d) for d in reversed(mounts.layer_dirs)),
            runtime_dir=str(mounts.runtime_dir),
            site_dir=str(mounts.site_dir) if mounts.site_dir else None,
            tmp_dir=str(mounts.tmp_dir),
            bin_dirs=(str(bin_dir),),
            lib_dirs=(str(bin_dir.parent / "lib"),),
        )

    async def start(self, launch: Launch) -> Sandbox:
        launch.mounts.tmp_dir.mkdir(parents=True, exist_ok=True)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        read_fd, write_fd = os.pipe()
        try:
            env = dict(launch.env)
            env[FD_VARIABLE] = str(child.fileno())
            proc = subprocess.Popen(
                [launch.interpreter, "-s", "-u", str(launch.bootstrap)],
                cwd=launch.mounts.code_dir, env=env, stdin=subprocess.DEVNULL, stdout=write_fd,
                stderr=write_fd, pass_fds=(child.fileno(),), start_new_session=True,
            )
        except BaseException:
            parent.close()
            os.close(read_fd)
            raise
        finally:
            child.close()
            os.close(write_fd)
        for limit, value in ((resource.RLIMIT_NOFILE, OPEN_FILES), (resource.RLIMIT_CORE, 0)):
            with contextlib.suppress(OSError, ValueError):
                resource.prlimit(proc.pid, limit, (value, value))
        return ProcessSandbox(proc, parent, read_fd)
