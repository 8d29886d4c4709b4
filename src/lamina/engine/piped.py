"""What every sandbox backend shares, whatever isolates it, written once:

- `Plumbing`: the two connections a new environment is started with (the frame socketpair and
  the pipe carrying its fd 1/2), the child's ends closed once it is started, the engine's ends
  (and whatever the backend set aside) released if the start fails;
- `PipedSandbox`: the handle every backend returns: the engine's end of the socket, the output
  pipe, the exit (status, listeners, waiting), the cgroup's peak and OOM counter when there is
  one, and the backend's clean-up run once the tree is gone. Backends subclass it only with how
  they signal the tree and whose memory they read;
- `Child`: exit detection for a backend whose environment is our direct child (pidfd, polling
  where there is none), the leader's process group killed and the leader reaped on exit;
- `Background`: work a backend started and must see finished before it closes;
- `Serial`: blocking calls (removing cgroups, scratch directories) run in order on one thread,
  without a hand-off each;
- `children`: a process's children from the kernel's own list.

Imports lamina.engine.sandbox, lamina.engine.protocol and lamina.engine.cgroups only.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import logging
import os
import resource
import signal
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable

from lamina.engine.cgroups import Group
from lamina.engine.protocol import Channel, FrameSink, connect_socket, read_buffer
from lamina.engine.sandbox import Sandbox

log = logging.getLogger("lamina.engine")
FD_VARIABLE = "_LAMINA_RUNTIME_FD"  # tells a runtime started as our child which inherited fd is its channel
OPEN_FILES = 1024  # Lambda's per-environment file descriptor limit
RLIMITS = ((resource.RLIMIT_NOFILE, OPEN_FILES), (resource.RLIMIT_CORE, 0))  # (limit, soft = hard)
_CHUNK = 65536
_POLL = 0.05  # seconds between exit checks where there is no pidfd


def vm_hwm_kb(pid: int) -> int:
    """Peak resident memory of a process, pages shared with its parent included (0 if gone)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def children(pid: int) -> list[int]:
    """The children of (the main thread of) `pid`, as the kernel lists them; [] once it is gone.

    Read from /proc/<pid>/task/<pid>/children (Linux ≥ 3.5), with a scan of every process's
    parent only where that file does not exist. Neither guesses where fork put the child."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as listed:
            return [int(child) for child in listed.read().split()]
    except FileNotFoundError:
        if not os.path.exists(f"/proc/{pid}"):
            return []
    except (OSError, ValueError):
        return []
    return [int(name) for name in os.listdir("/proc") if name.isdigit() and _parent_of(int(name)) == pid]


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


class Plumbing:
    """The frame socketpair and the output pipe of one environment being started.

        with Plumbing() as plumbing:
            plumbing.on_failure(release)          # undone if the start fails
            start(child fds: plumbing.channel_fd, plumbing.output_fd)
        return SomeSandbox(pid, plumbing, ...)    # the handle owns the engine's ends

    Leaving the block closes the child's ends (the child holds its own copies); leaving it with
    an exception also closes the engine's ends and runs the `on_failure` callbacks, newest first.
    """

    def __init__(self) -> None:
        self.sock, self._child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.read_fd, self._write_fd = os.pipe()
        except BaseException:
            self.sock.close()
            self._child.close()
            raise
        self._undo: list[Callable[[], None]] = []

    @property
    def channel_fd(self) -> int:
        """The child's end of the frame socket (to be inherited by the runtime)."""
        return self._child.fileno()

    @property
    def output_fd(self) -> int:
        """The write end of the output pipe (to be the child's fd 1 and 2)."""
        return self._write_fd

    def environment(self, variables: dict[str, str]) -> dict[str, str]:
        """`variables` plus the one naming the inherited channel fd, for a child started directly."""
        return {**variables, FD_VARIABLE: str(self.channel_fd)}

    def on_failure(self, callback: Callable[[], None]) -> None:
        self._undo.append(callback)

    def __enter__(self) -> Plumbing:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._child.close()
        os.close(self._write_fd)
        if exc_type is not None:
            self.sock.close()
            os.close(self.read_fd)
            for undo in reversed(self._undo):
                undo()


class PipedSandbox(Sandbox):
    """The handle of a running environment. The backend reports the exit with `exited(code)`.

    `group`: the environment's cgroup, whose peak and OOM counter are read (and kept at exit,
    unless lamina ended it: then nothing asks for them, and thousands read at once at a stop, each
    open of a cgroup file waiting on the removals of others, held up the event loop ~1 ms each);
    `cleanup`: what the backend releases once the tree is gone (cgroup, /tmp volume), run
    before the exit listeners are told. Subclasses say how to signal the tree (`_signal`) and
    whose peak resident memory to read while it runs (`_measured_pid`)."""

    def __init__(self, pid: int, plumbing: Plumbing, *, group: Group | None = None,
                 cleanup: Callable[[], None] | None = None) -> None:
        self.pid = pid
        self._sock: socket.socket | None = plumbing.sock
        self._out: int | None = plumbing.read_fd
        self._group = group
        self._cleanup = cleanup
        self._peak = 0
        self._oom = False
        self._ended = False  # lamina signalled it to end
        self._sink: FrameSink | None = None
        self._channel: Channel | None = None
        self._callbacks: list[Callable[[int], None]] = []
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()

    # ---- what subclasses say ----

    @abc.abstractmethod
    def _signal(self, signum: int) -> None:
        """Send `signum` to the tree (only called while it runs)."""

    def _measured_pid(self) -> int | None:
        """The process whose VmHWM is the environment's peak memory (None: not known yet)."""
        return self.pid

    # ---- the exit ----

    def exited(self, code: int) -> None:
        """The tree is gone with `code` (exit code or -signal): keep the cgroup's readings, run the
        backend's clean-up, drain what the tree wrote, tell the listeners. Once only."""
        if self._exited.done():
            return
        if self._group is not None and not self._ended:
            self._peak = max(self._peak, self._group.peak_kb())
            self._oom = self._group.oom_kills() > 0
        cleanup, self._cleanup = self._cleanup, None
        if cleanup is not None:
            cleanup()
        self.drain_output()
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

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    # ---- signals and readings ----

    def terminate(self) -> None:
        if self.returncode is None:
            self._ended = True
            self._signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.returncode is None:
            self._ended = True
            self._signal(signal.SIGKILL)

    def peak_memory_kb(self) -> int:
        if self.returncode is None:
            pid = self._measured_pid()
            self._peak = max(self._peak, vm_hwm_kb(pid) if pid else 0,
                             self._group.peak_kb() if self._group is not None else 0)
        return self._peak

    def out_of_memory(self) -> bool:
        if self.returncode is None and self._group is not None:
            return self._group.oom_kills() > 0
        return self._oom

    # ---- the frame channel and the output ----

    async def connect(self, sink: FrameSink) -> Channel:
        self._sink = sink
        if self._out is not None:
            os.set_blocking(self._out, False)
            self._loop.add_reader(self._out, self.drain_output)
        sock, self._sock = self._sock, None
        self._channel = await connect_socket(sock, sink)
        return self._channel

    def drain_output(self) -> None:
        chunk = read_buffer("output", _CHUNK)
        while self._out is not None:
            try:
                count = os.readv(self._out, (chunk,))
            except BlockingIOError:
                return
            except OSError:
                count = 0
            if not count:
                self._close_output()
                return
            if self._sink is not None:
                self._sink.output_received(bytes(chunk[:count]))
            if count < _CHUNK:
                return

    def _close_output(self) -> None:
        if self._out is not None:
            self._loop.remove_reader(self._out)
            os.close(self._out)
            self._out = None

    def close(self) -> None:
        self._close_output()
        if self._channel is not None:
            self._channel.close()
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class Child:
    """An environment that is our direct child and leads its own process group (started with
    start_new_session). `on_exit(code)` is called once the leader exited: the rest of its group
    is killed first (while the leader is a zombie its group id cannot be reused), then the
    leader is reaped."""

    def __init__(self, proc: subprocess.Popen, on_exit: Callable[[int], None]) -> None:
        self.proc = proc
        self._on_exit = on_exit
        self._loop = asyncio.get_running_loop()
        self._pidfd: int | None = None
        self._poller: asyncio.TimerHandle | None = None
        try:
            self._pidfd = os.pidfd_open(proc.pid)
            self._loop.add_reader(self._pidfd, self._exited)
        except (AttributeError, OSError):
            self._poller = self._loop.call_later(_POLL, self._poll)

    def _poll(self) -> None:
        try:
            exited = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            exited = True
        if exited:
            self._poller = None
            self._exited()
        else:
            self._poller = self._loop.call_later(_POLL, self._poll)

    def _exited(self) -> None:
        self.close()
        self.signal_group(signal.SIGKILL)
        try:
            _, status = os.waitpid(self.proc.pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            code = self.proc.returncode if self.proc.returncode is not None else -signal.SIGKILL
        self.proc.returncode = code
        self._on_exit(code)

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)

    def close(self) -> None:
        """Stop watching (the exit was seen, or the handle is being closed)."""
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None


class Background:
    """Work a backend started beside its environments (clean-ups, spares being made). A backend's
    close() awaits all of it, never cancels it: each piece ends by itself."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Future] = set()

    def add(self, work: Awaitable) -> None:
        future = asyncio.ensure_future(work)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    async def finish(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


class Serial:
    """Blocking calls run in order on one thread of their own, started with the first. Adding one
    never waits and costs the event loop no hand-off (asyncio.to_thread's future per call, at a
    stop thousands of them, took ~0.5 ms of the loop each); `finish` waits for all added so far;
    `abandon` lets the call running finish and drops the rest (and whatever is added later)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: collections.deque[Callable[[], object]] = collections.deque()
        self._wake = threading.Event()
        self._abandoned = False
        self._thread: threading.Thread | None = None

    def add(self, call: Callable[[], object]) -> None:
        if self._abandoned:
            return
        self._queue.append(call)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while not self._abandoned:
            self._wake.wait()
            self._wake.clear()
            while self._queue and not self._abandoned:
                call = self._queue.popleft()
                try:
                    call()
                except Exception:
                    log.exception("%s failed", self._name)

    async def finish(self) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def tell() -> None:
            if not done.done():
                done.set_result(None)

        self.add(lambda: loop.call_soon_threadsafe(tell))  # runs after everything added before it
        await done

    def abandon(self) -> None:
        """Stop after the call running now (blocking until it is done); the rest is never run."""
        self._abandoned = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
