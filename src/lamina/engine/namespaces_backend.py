"""The `namespaces` sandbox backend: environments forked from a zygote per runtime interpreter
(`lamina/runtimes/sandbox/zygote.py`, run as root), each in new mount/PID/IPC/UTS (and, for a
function without network, network) namespaces, a root built from `rootfs.plan`, its own cgroups
(MemorySize, pids, CPU weight), a size-capped /tmp volume, no capabilities, an unprivileged uid,
no_new_privs and a seccomp deny list.

The zygote keeps one child per interpreter that already joined a fresh cgroup (joining a v1
group costs ~15 ms) and has the part of the root every environment of its runtime shares
(`rootfs.shared`: the OS image, /var/lang, /var/runtime, /dev; built once in the zygote's mount
namespace, which every environment's copies), so a cold start is a message and the job's own
binds (/var/task, /opt, /tmp, file systems) before the pivot. /var/task and /opt are overlays
made once per version while any of its environments runs (lamina.engine.overlays): each
superblock costs every memory cgroup per-shrinker state, so an environment mounts only its
/proc and /tmp (and its IPC namespace's mqueue) as superblocks of its own. A zygote starts with
the first environment of its interpreter, or ahead of it (`prepare`: a function on its runtime was
created or changed, or is deployed at the server's start). Owns the
zygote processes and their control sockets, the spares and which zygote reports which
environment's exit; the handles, their plumbing and the cgroup readings (Runtime.OutOfMemory from
the OOM counter) are lamina.engine.piped's. Imports lamina.engine only.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
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
import time
from collections.abc import Callable
from pathlib import Path

from lamina.engine import overlays, rootfs, volumes
from lamina.engine.cgroups import Group, Hierarchy
from lamina.engine.piped import Background, PipedSandbox, Plumbing, Serial
from lamina.engine.sandbox import Launch, Layout, Mounts, Sandbox, SandboxBackend
from lamina.engine.volumes import VolumePool

log = logging.getLogger("lamina.engine")

ZYGOTE = Path(__file__).resolve().parent.parent / "runtimes" / "sandbox" / "zygote.py"
PRELOAD = ("json", "logging", "traceback", "decimal", "threading", "_lamina_channel", "_lamina_context",
           "_lamina_listener", "_lamina_logging", "_lamina_marshal", "boto3")
# rapid (images, custom runtimes): its Runtime API listener and its own modules, which each of
# its environments imported afresh (5-7 ms of an image function's cold start)
PRELOAD += ("http.server", "rapid_frames", "rapid_api", "rapid_http", "rapid_processes", "rapid_telemetry",
            "rapid_supervisor")
SECCOMP_ARCHES = ("x86_64", "aarch64")
# The next spare (a joined child, a /tmp volume) is made once the environment that took the last
# one is through its Init and first event (`settled`), so making it does not compete with them for
# the CPU; at the latest this many seconds after its start (a long Init keeps no spare from being made).
REPLENISH_AFTER = 0.25
# Spares kept per zygote: with one, a cold start that comes while the spare the previous one took is
# still being made (cgroup join, namespaces, shared root: 10-30 ms) forks and joins on its own path.
SPARES = 2
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
        self._fds: collections.deque[int] = collections.deque()  # received, for the messages that carry one
        self._outbox: collections.deque[tuple[bytes, tuple[int, ...]]] = collections.deque()
        self._writing = False
        self._ready: asyncio.Future | None = None
        self._waiting: dict[str, asyncio.Future] = {}
        self._count = 0
        self.sandboxes: dict[int, NamespaceSandbox] = {}
        # joined (each group limited for a size, each root's shared part built) and waiting, oldest first
        self.spares: collections.deque[Spare] = collections.deque()
        self.memory_mb: int | None = None  # the last size started: the next spare's group is limited ahead
        self.shared: Shared | None = None  # what the next spare builds ahead (the last zip job's runtime)
        self._spares_pending = 0
        self._begun = 0.0  # when start() began (monotonic): the first spare's delay is logged from it
        self.phases: dict[str, float] = {}  # the zygote's start, phase by phase (seconds), once ready

    async def start(self, site_dir: Path | None, runtime_dir: Path) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        paths = [str(runtime_dir.parent / "python")] + ([str(site_dir)] if site_dir else [])
        paths.append(str(runtime_dir.parent / "rapid"))  # images and custom runtimes: rapid's byte-code
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "_LAMINA_ZYGOTE_FD": str(child.fileno()),
               "_LAMINA_PRELOAD_PATHS": ":".join(paths), "_LAMINA_PRELOAD": ",".join(PRELOAD),
               "_LAMINA_MOVES": json.dumps(rootfs.preload_moves(self.interpreter, str(runtime_dir.parent / "python"),
                                                                str(runtime_dir.parent / "rapid")))}
        self._begun = time.monotonic()
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
            data, fds, _, _ = socket.recv_fds(self.sock, 65536, 8)  # type: ignore[arg-type]
        except BlockingIOError:
            return
        except OSError:
            data, fds = b"", []
        self._fds.extend(fds)  # they come with the first byte of their message, so before it is parsed
        if not data:
            self._lost()
            return
        buffer = self._buffer + data if self._buffer else data
        offset = 0  # the rest is kept once, not copied after each message (thousands of exits at a stop)
        while len(buffer) - offset >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(buffer, offset)
            end = offset + _LENGTH.size + size
            if len(buffer) < end:
                break
            message = json.loads(buffer[offset + _LENGTH.size:end])
            offset = end
            self._dispatch(message)
        self._buffer = buffer[offset:]

    def _dispatch(self, message: dict) -> None:
        op = message["op"]
        if op == "ready":
            if self._ready is not None and not self._ready.done():
                phases = message.get("phases") or {}
                total = time.monotonic() - self._begun
                # what the zygote did not time: the interpreter's own start, the socket's hand-off
                self.phases = {"interpreter": max(0.0, total - sum(phases.values())), **phases, "ready": total}
                log.info("zygote for %s ready in %.0f ms (%s)", self.interpreter, total * 1000,
                         ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in self.phases.items()
                                   if name != "ready"))
                self._ready.set_result(None)
        elif op == "exit":
            sandbox = self.sandboxes.pop(message["pid"], None)
            if sandbox is not None:
                sandbox.exited(message["status"])
        elif op in ("spare", "spawned"):
            if message.get("ok"):  # the spare's socket came with it (unless we were out of descriptors)
                message["sock"] = socket.socket(fileno=self._fds.popleft()) if self._fds else None
            future = self._waiting.pop(message["id"], None)
            if future is not None and not future.done():
                future.set_result(message)
            elif "sock" in message:
                message["sock"].close()

    def _lost(self) -> None:
        """The zygote died (or is being closed): its environments cannot be reported any more, so
        end them; requests waiting for a reply get an error reply."""
        self._outbox.clear()
        while self._fds:
            os.close(self._fds.popleft())
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
        while self.alive and len(self.spares) + self._spares_pending < SPARES:
            self._spares_pending += 1
            self.backend.background.add(self._make_spare())

    async def _make_spare(self) -> None:
        ident = self._next_id()
        group = self.backend.hierarchy.create(f"env-{os.getpid()}-{id(self)}-{ident}")
        shared, memory_mb = self.shared, self.memory_mb
        if memory_mb is not None:
            group.set_limits(memory_mb)
        message = {"op": "spare", "id": ident, "procs": group.procs_files}
        if shared is not None:
            message["shared"] = shared.job
        try:
            reply = await self._send(message)  # type: ignore[misc]
        except OSError:
            reply = {"ok": False}
        finally:
            self._spares_pending -= 1
        if reply.get("ok"):
            sock = reply["sock"]
            if "spare" not in self.phases:
                self.phases["spare"] = time.monotonic() - self._begun
                log.info("zygote for %s: first spare %.0f ms after its start", self.interpreter,
                         self.phases["spare"] * 1000)
            if self.alive and sock is not None:
                self.spares.append(Spare(ident, group, memory_mb, shared, reply["pid"], sock))
                return
            if sock is not None:
                sock.close()
            if self.alive:  # a spare we cannot reach: the zygote lets it go (it exits)
                self._send({"op": "claim", "spare": ident, "pid": reply["pid"], "running": False})
        group.remove()

    async def spawn(self, job: dict, fds: tuple[int, ...], plan: rootfs.Plan | None = None) -> tuple[int, Group]:
        """Start `job` (built from `plan`) in a spare, or in a child forked for it; with a spare
        that built the shared part of `plan`'s root, the job names that part and its other binds."""
        if not self.alive:
            raise OSError("the zygote is not running")
        self.memory_mb = job["memory_mb"]
        while self.spares:
            spare = self.spares.popleft()
            given = _from_shared(job, plan, spare.shared)
            if spare.limited != self.memory_mb:
                spare.group.set_limits(self.memory_mb)
            running = _hand(spare.sock, given, fds)
            self._send({"op": "claim", "spare": spare.ident, "pid": spare.pid, "running": running})
            if running:
                return spare.pid, spare.group
            spare.group.remove()  # it died while waiting: the next spare, or a fresh child
        ident = self._next_id()
        group = self.backend.hierarchy.create(f"env-{os.getpid()}-{id(self)}-{ident}")
        group.set_limits(self.memory_mb)
        # a fresh child starts from the zygote's shared part too (a burst of cold starts takes the
        # spares at once: most environments are made here)
        reply = await self._send({"op": "spawn", "id": ident, "job": _from_shared(job, plan, self.shared),
                                  "procs": group.procs_files}, fds)  # type: ignore[misc]
        if "pid" not in reply:
            group.remove()
            raise OSError(f"the environment could not be started: {reply.get('error')}")
        return reply["pid"], group

    async def close(self) -> None:
        for sandbox in list(self.sandboxes.values()):
            sandbox.kill()
        while self.spares:
            spare = self.spares.popleft()
            spare.sock.close()
            spare.group.remove()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(proc.wait), 2)
            except TimeoutError:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        self._lost()  # a spare still being made gets its error reply now


def _from_shared(job: dict, plan: rootfs.Plan | None, shared: Shared | None) -> dict:
    """`job` naming the `shared` part it starts from and its binds left to make, when `plan` can
    start from that part; else `job` itself (its whole root is built)."""
    rest = rootfs.rest(plan, shared.plan) if shared is not None and plan is not None else None
    if rest is None:
        return job
    return {**job, "shared": shared.job, "rest": [[b.source, b.target, b.writable] for b in rest]}  # type: ignore[union-attr]


def _hand(sock: socket.socket, job: dict, fds: tuple[int, ...]) -> bool:
    """Send a spare's PID 1 its job and descriptors (as the zygote frames messages) and let go of
    the socket; False if it is gone. The socket is new and holds nothing else, so a job (a few kB)
    goes in at once: the write never waits."""
    data = json.dumps(job, separators=(",", ":")).encode()
    payload = _LENGTH.pack(len(data)) + data
    try:
        sent = socket.send_fds(sock, [payload], list(fds))
        if sent < len(payload):
            sock.setblocking(True)
            sock.settimeout(1.0)
            sock.sendall(payload[sent:])
        return True
    except OSError:
        return False
    finally:
        sock.close()


@dataclasses.dataclass(frozen=True)
class Spare:
    """A joined child waiting for its job: its group (limited for `limited` MB), the shared part
    of the root it built, its PID 1 (host pid) and the engine's copy of its socket."""

    ident: str
    group: Group
    limited: int | None
    shared: Shared | None
    pid: int
    sock: socket.socket


@dataclasses.dataclass(frozen=True)
class Shared:
    """The part of the root a spare builds ahead: the plan and as the zygote receives it."""

    plan: rootfs.Plan
    job: dict


class NamespacesBackend(SandboxBackend):
    name = "namespaces"

    def __init__(self, *, work_dir: Path, hierarchy: Hierarchy, volumes: VolumePool | None, last_cap: int) -> None:
        """Everything it depends on is handed in (by lamina.engine.backends): the work directory,
        the cgroup hierarchy environments get their groups in, the /tmp volume pool (None: plain
        directories) and the highest capability number of this kernel (all are dropped)."""
        self.hierarchy = hierarchy
        self.volumes = volumes
        self._root = Path(work_dir) / "root"  # each environment mounts its own root here
        self._shared_root = Path(work_dir) / "shared"  # or here, when its spare built the shared part
        self._shared: dict[tuple[str, str], Shared] = {}
        # each version's /var/task and /opt: one overlay while any of its environments runs
        self._overlays = overlays.SharedOverlays(Path(work_dir) / "empty")
        self._zygotes: dict[str, Zygote] = {}
        self._starting: dict[str, asyncio.Future] = {}
        self._booting: dict[str, Zygote] = {}  # the zygotes whose start is under way
        self.background = Background()
        self._removals = Serial("lamina-cgroup-remove")  # the groups of environments that ended
        # the spares put off until that environment's Init ends: (timer, zygote, /tmp size)
        self._replenishing: dict[Sandbox, tuple[asyncio.TimerHandle, Zygote, int]] = {}
        self._last_cap = last_cap
        self._closing = False
        self.not_enforced = []
        if volumes is None:
            self.not_enforced.append("ephemeral storage limit (/tmp is a plain directory)")
        if platform.machine() not in SECCOMP_ARCHES:
            self.not_enforced.append(f"seccomp deny list (no list for {platform.machine()})")
        if "cpu" not in hierarchy.controllers:
            self.not_enforced.append("cpu share")

    def layout(self, mounts: Mounts, interpreter: str) -> Layout:
        return rootfs.layout(mounts, interpreter)

    async def _zygote(self, interpreter: str, site_dir: Path | None, runtime_dir: Path, image: bool) -> Zygote:
        """The zygote of `interpreter`, started now if it is not running (or its start awaited)."""
        zygote = self._zygotes.get(interpreter)
        if zygote is not None and zygote.alive:
            return zygote
        starting = self._starting.get(interpreter)
        if starting is not None:
            return await asyncio.shield(starting)
        future = self._starting[interpreter] = asyncio.get_running_loop().create_future()
        zygote = self._booting[interpreter] = Zygote(self, interpreter)
        try:
            await zygote.start(site_dir, runtime_dir)
            if self._closing:  # started ahead while the backend closed: nothing may outlive close()
                raise OSError("the sandbox backend is closing")
        except BaseException as exc:
            del self._booting[interpreter]
            del self._starting[interpreter]
            future.set_exception(OSError(f"cannot start the zygote for {interpreter}: {exc}"))
            future.exception()
            await zygote.close()
            raise OSError(f"cannot start the zygote for {interpreter}: {exc}") from exc
        self._zygotes[interpreter] = zygote
        del self._starting[interpreter], self._booting[interpreter]
        future.set_result(zygote)
        if not image:
            zygote.shared = self._shared_part(interpreter, runtime_dir)
        zygote.replenish()
        return zygote

    def prepare(self, interpreter: str, runtime_dir: Path) -> None:
        """Start `interpreter`'s zygote (and its first spares, with the shared part of the root of
        `runtime_dir`'s environments) in the background, unless it runs or is starting: the first
        environment then forks at once instead of waiting for its start (~0.4-0.7 s)."""
        interpreter = os.path.realpath(interpreter)
        zygote = self._zygotes.get(interpreter)
        if self._closing or (zygote is not None and zygote.alive) or interpreter in self._starting:
            return
        self.background.add(self._prepare(interpreter, runtime_dir))

    async def _prepare(self, interpreter: str, runtime_dir: Path) -> None:
        try:
            await self._zygote(interpreter, None, runtime_dir, image=False)
        except OSError as exc:  # the first environment tries again, and reports what fails
            if not self._closing:
                log.warning("%s", exc)

    def zygotes(self) -> list[str]:
        return sorted(interpreter for interpreter, zygote in self._zygotes.items() if zygote.alive)

    def _shared_part(self, interpreter: str, runtime_dir: Path) -> Shared:
        """The shared part of the roots of `interpreter`'s environments with this runtime image."""
        key = (interpreter, str(runtime_dir))
        shared = self._shared.get(key)
        if shared is None:
            plan = rootfs.shared(interpreter, str(runtime_dir))
            self._shared_root.mkdir(parents=True, exist_ok=True)
            shared = self._shared[key] = Shared(plan, {
                "root": str(self._shared_root), "binds": [[b.source, b.target, b.writable] for b in plan.binds],
                "links": [list(link) for link in plan.links], "dirs": list(plan.dirs),
                "devices": list(rootfs.DEVICES), "hostname": rootfs.HOSTNAME,
            })
        return shared

    def zygote_lost(self, zygote: Zygote) -> None:
        if self._zygotes.get(zygote.interpreter) is zygote:
            del self._zygotes[zygote.interpreter]

    async def start(self, launch: Launch) -> Sandbox:
        zygote = await self._zygote(os.path.realpath(launch.interpreter), launch.mounts.site_dir,
                                    launch.mounts.runtime_dir, image=launch.mounts.image_root is not None)
        # /tmp: a volume mounted nowhere on the host, handed over as a descriptor and attached by
        # the environment (unmounted by the kernel when both let go: nothing to unmount here, and
        # no host mount per environment that every new mount namespace would copy); else a volume
        # mounted under the pool's directory, or a plain directory. The next volume is made once
        # this environment is through its start (`settled`), which it would slow down.
        detached = (await self.volumes.acquire_detached(launch.ephemeral_mb, replenish=False)
                    if self.volumes is not None else None)
        tmp_fd = None
        if detached is not None:  # its file is deleted once the environment is gone
            tmp_fd, image = detached
            tmp, release = launch.mounts.tmp_dir, functools.partial(self.volumes.discard, image)  # type: ignore[union-attr]
        else:
            tmp, release = await volumes.scratch(self.volumes, launch.mounts.tmp_dir, launch.ephemeral_mb,
                                                 replenish=False)
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
        if not launch.mounts.image_root:  # the next spare builds what this one's runtime shares
            zygote.shared = self._shared_part(zygote.interpreter, launch.mounts.runtime_dir)
        if tmp_fd is not None:
            job["tmp_fd"] = True  # the third descriptor; the zygote names its number
        attached = self._shared_overlays(launch.mounts, plan)  # [(path inside, layers, clone)]
        job["attach"] = [target for target, _, _ in attached]  # the descriptors after /tmp's
        release = functools.partial(self._release, release, [layers for _, layers, _ in attached])
        try:
            with Plumbing() as plumbing:
                plumbing.on_failure(release)
                plumbing.on_failure(lambda: self._replenish(zygote, launch.ephemeral_mb))
                fds = (plumbing.channel_fd, plumbing.output_fd) + ((tmp_fd,) if tmp_fd is not None else ())
                fds += tuple(fd for _, _, fd in attached)
                pid, group = await zygote.spawn(job, fds, plan)
        finally:
            if tmp_fd is not None:
                os.close(tmp_fd)  # the environment holds its own
            for _, _, fd in attached:
                os.close(fd)

        def cleanup() -> None:
            # The zygote reaped PID 1, so the group is empty; removing it (an rmdir per controller)
            # is done off the event loop, in order on one thread: thousands ending at once (a stop)
            # keep the loop free for their exits. A v1 group busy a moment longer is tried again
            # after the rest, so it holds none of them up.
            def remove() -> None:
                if not group.remove(timeout=0):
                    self._removals.add(group.remove)

            self._removals.add(remove)
            release()

        sandbox = NamespaceSandbox(pid, plumbing, group=group, cleanup=cleanup)
        zygote.sandboxes[pid] = sandbox
        timer = asyncio.get_running_loop().call_later(REPLENISH_AFTER, self.settled, sandbox)
        self._replenishing[sandbox] = (timer, zygote, launch.ephemeral_mb)
        return sandbox

    def _shared_overlays(self, mounts: Mounts, plan: rootfs.Plan) -> list[tuple[str, tuple[str, ...], int]]:
        """Clones of the overlays this environment shares with the others of its version: its
        /var/task and its /opt (without one, the environment makes its own, as before)."""
        if mounts.image_root is not None:
            return []
        attached = []
        for target, layers in ((rootfs.TASK_ROOT, (str(mounts.code_dir),)),
                               (rootfs.OPT, tuple(reversed(plan.opt_layers)))):
            fd = self._overlays.acquire(layers) if layers else None
            if fd is not None:
                attached.append((target, layers, fd))
        return attached

    def _release(self, release: Callable[[], None], layers: list[tuple[str, ...]]) -> None:
        release()
        for lower_dirs in layers:
            self._overlays.release(lower_dirs)

    def settled(self, sandbox: Sandbox) -> None:
        entry = self._replenishing.pop(sandbox, None)
        if entry is not None:
            timer, zygote, size_mb = entry
            timer.cancel()
            self._replenish(zygote, size_mb)

    def _replenish(self, zygote: Zygote, size_mb: int) -> None:
        zygote.replenish()
        if self.volumes is not None:
            self.volumes.replenish(size_mb)

    async def close(self) -> None:
        self._closing = True
        for zygote in list(self._booting.values()):  # a start under way (ahead of any request) ends now
            await zygote.close()
        for timer, _, _ in self._replenishing.values():
            timer.cancel()
        self._replenishing.clear()
        for zygote in list(self._zygotes.values()):
            await zygote.close()
        self._zygotes.clear()
        self._overlays.close()
        await self.background.finish()
        await self._removals.finish()
        if self.volumes is not None:
            await self.volumes.close()
        await asyncio.to_thread(self.hierarchy.remove)
