"""The `namespaces` sandbox backend: environments forked from a zygote per runtime interpreter
(`lamina/runtimes/sandbox/zygote.py`, run as root), each in new mount/PID/IPC/UTS (and, for a
function without network, network) namespaces, a root built from `rootfs.plan`, its own cgroups
(MemorySize, pids, CPU weight), a size-capped /tmp volume, no capabilities, an unprivileged uid,
no_new_privs and a seccomp deny list.

The zygote keeps one child per interpreter that already joined a fresh cgroup (joining a v1
group costs ~15 ms), so a cold start is a message, a fork and the namespace set-up. Owns the
zygote processes and their control sockets, the spares and which zygote reports which
environment's exit; the handles, their plumbing and the cgroup readings (Runtime.OutOfMemory from
the OOM counter) are lamina.engine.piped's. Imports lamina.engine only.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import os
import platform
import shutil
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

from lamina.engine import rootfs, volumes
from lamina.engine.cgroups import Group, Hierarchy
from lamina.engine.piped import Background, PipedSandbox, Plumbing
from lamina.engine.sandbox import Launch, Layout, Mounts, Sandbox, SandboxBackend
from lamina.engine.volumes import VolumePool

log = logging.getLogger("lamina.engine")

ZYGOTE = Path(__file__).resolve().parent.parent / "runtimes" / "sandbox" / "zygote.py"
PRELOAD = ("json", "logging", "traceback", "decimal", "threading", "_lamina_channel", "_lamina_context",
           "_lamina_listener", "_lamina_logging", "_lamina_marshal", "boto3")
SECCOMP_ARCHES = ("x86_64", "aarch64")
_LENGTH = struct.Struct(">I")


def unavailable() -> str | None:
    """Why this host cannot run the namespaces backend, or None."""
    if sys.platform != "linux":
        return "it needs Linux"
    if os.geteuid() != 0:
        return "it needs root (run lamina as root, or use the bubblewrap backend)"
    hierarchy = Hierarchy.detect(tag=f"lamina-probe-{os.getpid()}")
    if hierarchy is None:
        return "no writable memory cgroup was found"
    hierarchy.remove()
    probe = subprocess.run(["unshare", "--mount", "--pid", "--ipc", "--uts", "--net", "--fork", "true"],
                           capture_output=True, timeout=10) if shutil.which("unshare") else None
    if probe is not None and probe.returncode != 0:
        return f"new namespaces cannot be created here: {probe.stderr.decode(errors='replace').strip()}"
    return None


def last_capability() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 40


def _nothing() -> None:
    pass


class NamespaceSandbox(PipedSandbox):
    """An environment forked by a zygote: PID 1 of its own namespaces. The zygote reaps it and
    reports the exit (`exited`); signals go to PID 1, and killing it ends everything inside."""

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signum)


class Zygote:
    """One fork server process and the engine's end of its control socket."""

    def __init__(self, backend: NamespacesBackend, interpreter: str) -> None:
        self.backend = backend
        self.interpreter = interpreter
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self._buffer = b""
        self._outbox: collections.deque[tuple[bytes, tuple[int, ...]]] = collections.deque()
        self._writing = False
        self._ready: asyncio.Future | None = None
        self._waiting: dict[str, asyncio.Future] = {}
        self._count = 0
        self.sandboxes: dict[int, NamespaceSandbox] = {}
        self.spare: tuple[str, Group] | None = None  # joined and waiting
        self._spare_pending = False

    async def start(self, site_dir: Path | None, runtime_dir: Path) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        paths = [str(runtime_dir.parent / "python")] + ([str(site_dir)] if site_dir else [])
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "_LAMINA_ZYGOTE_FD": str(child.fileno()),
               "_LAMINA_PRELOAD_PATHS": ":".join(paths), "_LAMINA_PRELOAD": ",".join(PRELOAD),
               "PYTHONDONTWRITEBYTECODE": "1",
               "_LAMINA_MOVES": json.dumps(rootfs.preload_moves(self.interpreter, str(runtime_dir.parent / "python")))}
        try:
            self.proc = subprocess.Popen([self.interpreter, "-s", "-u", str(ZYGOTE)], env=env, pass_fds=(child.fileno(),),
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            child.close()
        self.sock = parent
        parent.setblocking(False)
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        loop.add_reader(parent.fileno(), self._readable)
        await asyncio.wait_for(asyncio.shield(self._ready), 60)

    def _readable(self) -> None:
        try:
            data = self.sock.recv(65536)  # type: ignore[union-attr]
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost()
            return
        self._buffer += data
        while len(self._buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._buffer)
            if len(self._buffer) < _LENGTH.size + size:
                return
            message = json.loads(self._buffer[_LENGTH.size:_LENGTH.size + size])
            self._buffer = self._buffer[_LENGTH.size + size:]
            self._dispatch(message)

    def _dispatch(self, message: dict) -> None:
        op = message["op"]
        if op == "ready":
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
        elif op == "exit":
            sandbox = self.sandboxes.pop(message["pid"], None)
            if sandbox is not None:
                sandbox.exited(message["status"])
        elif op in ("spare", "spawned"):
            future = self._waiting.pop(message["id"], None)
            if future is not None and not future.done():
                future.set_result(message)

    def _lost(self) -> None:
        """The zygote died (or is being closed): its environments cannot be reported any more, so
        end them; requests waiting for a reply get an error reply."""
        self._outbox.clear()
        if self.sock is not None:
            if self._writing:
                asyncio.get_running_loop().remove_writer(self.sock.fileno())
                self._writing = False
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_result({"error": "the zygote exited"})
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(OSError(f"the zygote for {self.interpreter} exited at start"))
            self._ready.exception()  # retrieved: start() may be gone already
        for sandbox in list(self.sandboxes.values()):
            sandbox.kill()
            sandbox.exited(-signal.SIGKILL)
        self.sandboxes.clear()
        self.backend.zygote_lost(self)

    @property
    def alive(self) -> bool:
        return self.sock is not None

    def _send(self, message: dict, fds: tuple[int, ...] = ()) -> asyncio.Future | None:
        if self.sock is None:
            raise OSError("the zygote is not running")
        data = json.dumps(message, separators=(",", ":")).encode()
        # Never a blocking write: under a burst the zygote can be blocked writing its replies to
        # us while its socket buffer is full, and a loop blocked in sendall would never read them
        # (both sides waited for ever). The descriptors stay open until the reply (the callers
        # await it), so queuing them is safe.
        self._outbox.append((_LENGTH.pack(len(data)) + data, tuple(fds)))
        self._flush()
        if "id" in message:
            future = asyncio.get_running_loop().create_future()
            self._waiting[message["id"]] = future
            return future
        return None

    def _flush(self) -> None:
        """Write what the socket takes now; the rest when it is writable again. Descriptors go
        with the first byte of their message (the zygote collects them from any chunk)."""
        sock = self.sock
        if sock is None:
            return
        while self._outbox:
            payload, fds = self._outbox[0]
            try:
                sent = socket.send_fds(sock, [payload], list(fds)) if fds else sock.send(payload)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._lost()
                return
            if sent < len(payload):
                self._outbox[0] = (payload[sent:], ())
            else:
                self._outbox.popleft()
        waiting = bool(self._outbox)
        if waiting != self._writing:
            loop = asyncio.get_running_loop()
            if waiting:
                loop.add_writer(sock.fileno(), self._flush)
            else:
                loop.remove_writer(sock.fileno())
            self._writing = waiting

    def _next_id(self) -> str:
        self._count += 1
        return f"{self._count}"

    def replenish(self) -> None:
        """Ask for a child that joins a fresh cgroup now, ahead of the next cold start."""
        if self.spare is not None or self._spare_pending or not self.alive:
            return
        self._spare_pending = True
        self.backend.background.add(self._make_spare())

    async def _make_spare(self) -> None:
        ident = self._next_id()
        group = self.backend.hierarchy.create(f"env-{os.getpid()}-{id(self)}-{ident}")
        try:
            reply = await self._send({"op": "spare", "id": ident, "procs": group.procs_files})  # type: ignore[misc]
        except OSError:
            reply = {"ok": False}
        finally:
            self._spare_pending = False
        if reply.get("ok"):
            self.spare = (ident, group)
        else:
            group.remove()

    async def spawn(self, job: dict, fds: tuple[int, int]) -> tuple[int, Group]:
        ident = self._next_id()
        message: dict = {"op": "spawn", "id": ident, "job": job}
        if self.spare is not None:
            message["spare"], group = self.spare
            self.spare = None
        else:
            group = self.backend.hierarchy.create(f"env-{os.getpid()}-{id(self)}-{ident}")
        message["procs"] = group.procs_files  # joined by a fresh child if the spare is gone
        group.set_limits(job["memory_mb"])
        reply = await self._send(message, fds)  # type: ignore[misc]
        if "pid" not in reply:
            group.remove()
            raise OSError(f"the environment could not be started: {reply.get('error')}")
        return reply["pid"], group

    async def close(self) -> None:
        for sandbox in list(self.sandboxes.values()):
            sandbox.kill()
        if self.spare is not None:
            self.spare[1].remove()
            self.spare = None
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(proc.wait), 2)
            except TimeoutError:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        self._lost()  # a spare still being made gets its error reply now


class NamespacesBackend(SandboxBackend):
    name = "namespaces"

    def __init__(self, *, work_dir: Path, hierarchy: Hierarchy, volumes: VolumePool | None, last_cap: int) -> None:
        """Everything it depends on is handed in (by lamina.engine.backends): the work directory,
        the cgroup hierarchy environments get their groups in, the /tmp volume pool (None: plain
        directories) and the highest capability number of this kernel (all are dropped)."""
        self.hierarchy = hierarchy
        self.volumes = volumes
        self._root = Path(work_dir) / "root"  # each environment mounts its own root here
        self._zygotes: dict[str, Zygote] = {}
        self._starting: dict[str, asyncio.Future] = {}
        self.background = Background()
        self._last_cap = last_cap
        self.not_enforced = []
        if volumes is None:
            self.not_enforced.append("ephemeral storage limit (/tmp is a plain directory)")
        if platform.machine() not in SECCOMP_ARCHES:
            self.not_enforced.append(f"seccomp deny list (no list for {platform.machine()})")
        if "cpu" not in hierarchy.controllers:
            self.not_enforced.append("cpu share")

    def layout(self, mounts: Mounts, interpreter: str) -> Layout:
        return rootfs.layout(mounts, interpreter)

    async def _zygote(self, interpreter: str, mounts: Mounts) -> Zygote:
        zygote = self._zygotes.get(interpreter)
        if zygote is not None and zygote.alive:
            return zygote
        starting = self._starting.get(interpreter)
        if starting is not None:
            return await asyncio.shield(starting)
        future = self._starting[interpreter] = asyncio.get_running_loop().create_future()
        zygote = Zygote(self, interpreter)
        try:
            await zygote.start(mounts.site_dir, mounts.runtime_dir)
        except BaseException as exc:
            del self._starting[interpreter]
            future.set_exception(OSError(f"cannot start the zygote for {interpreter}: {exc}"))
            future.exception()
            await zygote.close()
            raise OSError(f"cannot start the zygote for {interpreter}: {exc}") from exc
        self._zygotes[interpreter] = zygote
        del self._starting[interpreter]
        future.set_result(zygote)
        zygote.replenish()
        return zygote

    def zygote_lost(self, zygote: Zygote) -> None:
        if self._zygotes.get(zygote.interpreter) is zygote:
            del self._zygotes[zygote.interpreter]

    async def start(self, launch: Launch) -> Sandbox:
        zygote = await self._zygote(os.path.realpath(launch.interpreter), launch.mounts)
        # /tmp: a volume mounted nowhere on the host, handed over as a descriptor and attached by
        # the environment (unmounted by the kernel when both let go: nothing to unmount here, and
        # no host mount per environment that every new mount namespace would copy); else a volume
        # mounted under the pool's directory, or a plain directory.
        tmp_fd = await self.volumes.acquire_detached(launch.ephemeral_mb) if self.volumes is not None else None
        if tmp_fd is not None:
            tmp, release = launch.mounts.tmp_dir, _nothing
        else:
            tmp, release = await volumes.scratch(self.volumes, launch.mounts.tmp_dir, launch.ephemeral_mb)
        self._root.mkdir(parents=True, exist_ok=True)
        mounts = dataclasses.replace(launch.mounts, tmp_dir=tmp)
        plan = rootfs.plan(mounts, launch.interpreter)
        job = {
            "root": str(self._root), "binds": [[b.source, b.target, b.writable] for b in plan.binds],
            "links": [list(link) for link in plan.links], "dirs": list(plan.dirs),
            "opt_layers": list(plan.opt_layers), "devices": list(rootfs.DEVICES), "hostname": rootfs.HOSTNAME,
            "network": launch.network, "uid": rootfs.SANDBOX_UID, "last_cap": self._last_cap,
            "env": launch.env, "cwd": "/" if launch.mounts.image_root else rootfs.TASK_ROOT, "bootstrap": str(launch.bootstrap),
            "memory_mb": launch.memory_mb, "moves": rootfs.moves(plan),
        }
        if tmp_fd is not None:
            job["tmp_fd"] = True  # the third descriptor; the zygote names its number
        try:
            with Plumbing() as plumbing:
                plumbing.on_failure(release)
                fds = (plumbing.channel_fd, plumbing.output_fd) + ((tmp_fd,) if tmp_fd is not None else ())
                pid, group = await zygote.spawn(job, fds)
        finally:
            if tmp_fd is not None:
                os.close(tmp_fd)  # the environment holds its own

        def cleanup() -> None:
            # The zygote reaped PID 1, so the group is empty; removing it (reading each controller's
            # cgroup.procs, an rmdir each, a v1 group busy a moment longer) takes ~3 ms, all off the
            # event loop: thousands ending at once (a stop) keep the loop free for their exits.
            self.background.add(asyncio.to_thread(group.remove))
            release()

        sandbox = NamespaceSandbox(pid, plumbing, group=group, cleanup=cleanup)
        zygote.sandboxes[pid] = sandbox
        zygote.replenish()
        return sandbox

    async def close(self) -> None:
        for zygote in list(self._zygotes.values()):
            await zygote.close()
        self._zygotes.clear()
        await self.background.finish()
        if self.volumes is not None:
            await self.volumes.close()
        await asyncio.to_thread(self.hierarchy.remove)
