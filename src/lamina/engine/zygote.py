"""The engine's end of a zygote, the namespaces backend's fork server per host interpreter
(`lamina/runtimes/sandbox/zygote.py`, run as root): its process and start phases, its control
socket (framed, never a blocking write), its spares (children joined to fresh cgroups ahead of
cold starts), handing a job to a spare or to a child forked for it, and reporting environments'
exits. Imports lamina.engine only.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Protocol

from lamina.engine import rootfs
from lamina.engine.cgroups import Group, Hierarchy
from lamina.engine.piped import Background, PipedSandbox

log = logging.getLogger("lamina.engine")

ZYGOTE = Path(__file__).resolve().parent.parent / "runtimes" / "sandbox" / "zygote.py"
PRELOAD = ("json", "logging", "traceback", "decimal", "threading", "_lamina_channel", "_lamina_context",
           "_lamina_listener", "_lamina_logging", "_lamina_marshal", "boto3")
# rapid (images, custom runtimes): its Runtime API listener and its own modules, which each of
# its environments imported afresh (5-7 ms of an image function's cold start)
PRELOAD += ("http.server", "rapid_frames", "rapid_api", "rapid_http", "rapid_processes", "rapid_logs",
            "rapid_telemetry", "rapid_supervisor")
# Spares kept per zygote: with one, a cold start that comes while the spare the previous one took is
# still being made (cgroup join, namespaces, shared root: 10-30 ms) forks and joins on its own path.
SPARES = 2
_LENGTH = struct.Struct(">I")


class Owner(Protocol):
    """What a zygote needs of its backend: the hierarchy its environments' groups are made in, the
    background tasks awaited on close (its spares are made there), and word that it is gone."""

    hierarchy: Hierarchy
    background: Background
    hosts: str | None  # the file every environment sees at /etc/hosts (lamina.engine.hosts)

    def zygote_lost(self, zygote: Zygote) -> None: ...


class Zygote:
    """One fork server process and the engine's end of its control socket."""

    def __init__(self, backend: Owner, interpreter: str) -> None:
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
        self.sandboxes: dict[int, PipedSandbox] = {}
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
        if getattr(self.backend, "hosts", None):  # copied into a tmpfs of the zygote's namespace
            env["_LAMINA_HOSTS"] = str(self.backend.hosts)
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
