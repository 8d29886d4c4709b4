"""The `process` sandbox backend: each environment is a plain child process (its own session and
process group) with a few rlimits. It isolates almost nothing, says so in `not_enforced`, and is
the last resort where neither namespaces nor bubblewrap are available.

Nor does it show AWS's layout (issue 21, item 9): without a mount namespace nothing can appear
at /var/task, /var/runtime or /var/lang, so a function sees host paths: LAMBDA_TASK_ROOT is the
unpacked code's directory, LAMBDA_RUNTIME_DIR and PYTHONPATH the runtime image in the data dir,
sys.executable and PATH's first entry the host interpreter's, and the whole host file system is
listable. Only the variables' names and the PATH order match AWS's.

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
from pathlib import Path

from lamina.engine.piped import PipedSandbox, vm_hwm_kb
from lamina.engine.sandbox import Launch, Layout, Mounts, Sandbox, SandboxBackend

FD_VARIABLE = "_LAMINA_RUNTIME_FD"  # tells the runtime which inherited fd is its channel
OPEN_FILES = 1024  # Lambda's per-environment file descriptor limit


class ProcessSandbox(PipedSandbox):
    """A plain child process: exit seen through a pidfd (or polling), the whole process group
    signalled."""

    def __init__(self, proc: subprocess.Popen, sock: socket.socket, output_fd: int) -> None:
        super().__init__(proc.pid, sock, output_fd)
        self._proc = proc
        self._pidfd: int | None = None
        self._poller: asyncio.TimerHandle | None = None
        try:
            self._pidfd = os.pidfd_open(self.pid)
            self._loop.add_reader(self._pidfd, self._on_exit)
        except (AttributeError, OSError):
            self._poller = self._loop.call_later(0.05, self._poll)

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
        of the group, reap the leader, then finish."""
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
        self._finished(code)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def terminate(self) -> None:
        if self.returncode is None:
            self._signal_group(signal.SIGTERM)

    def kill(self) -> None:
        if self.returncode is None:
            self._signal_group(signal.SIGKILL)

    def peak_memory_kb(self) -> int:
        return vm_hwm_kb(self.pid)

    def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        super().close()


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
