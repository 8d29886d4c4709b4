"""The `namespaces` sandbox backend: environments forked from a zygote per runtime interpreter
(`lamina/runtimes/sandbox/zygote.py`, run as root), each in new mount/PID/IPC/UTS (and, for a
function without network, network) namespaces, a root built from `rootfs.plan`, its own cgroups
(MemorySize, pids, CPU weight), a size-capped /tmp volume, no capabilities, an unprivileged uid,
no_new_privs and a seccomp deny list.

The zygote of its interpreter (lamina.engine.zygote) keeps children that already joined a fresh
cgroup (joining a v1 group costs ~15 ms) and have the part of the root every environment of its
runtime shares (`rootfs.shared`: the OS image, /var/lang, /var/runtime, /dev; built once in the
zygote's mount namespace, which every environment's copies), so a cold start is a message and the
job's own binds (/var/task, /opt, /tmp, file systems) before the pivot. The shared part includes
/etc/hosts (lamina.engine.hosts, written once under the work directory; each zygote binds it from
a tmpfs copy in its own mount namespace, so no host path of it shows). /var/task and /opt are
overlays made once per version while any of its environments runs (lamina.engine.overlays): each
superblock costs every memory cgroup per-shrinker state, so an environment mounts only its
/proc and /tmp (and its IPC namespace's mqueue) as superblocks of its own. A zygote starts with
the first environment of its interpreter, or ahead of it (`prepare`: a function on its runtime was
created or changed, or is deployed at the server's start). Owns the environments' starts (one
zygote per interpreter, started once; each job: its root, its /tmp volume, the shared overlays),
when the next spares and volumes are made (`settled`), the removal of ended environments' cgroups
and the close; the zygote processes, their control sockets and spares are lamina.engine.zygote's,
the handles, their plumbing and the cgroup readings (Runtime.OutOfMemory from the OOM counter)
lamina.engine.piped's. Imports lamina.engine only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from lamina.engine import hosts, overlays, rootfs, volumes
from lamina.engine.cgroups import Hierarchy
from lamina.engine.piped import Background, PipedSandbox, Plumbing, Serial
from lamina.engine.sandbox import Launch, Layout, Mounts, Sandbox, SandboxBackend
from lamina.engine.volumes import VolumePool
from lamina.engine.zygote import Shared, Zygote

log = logging.getLogger("lamina.engine")

SECCOMP_ARCHES = ("x86_64", "aarch64")
# The next spare (a joined child, a /tmp volume) is made once the environment that took the last
# one is through its Init and first event (`settled`), so making it does not compete with them for
# the CPU; at the latest this many seconds after its start (a long Init keeps no spare from being made).
REPLENISH_AFTER = 0.25


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
        # /etc/hosts inside, written once; each zygote shows it from a tmpfs copy of its own
        self.hosts = hosts.prepare(Path(work_dir) / "etc")
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
            plan = rootfs.shared(interpreter, str(runtime_dir), hosts=self.hosts)
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
        plan = rootfs.plan(mounts, launch.interpreter, hosts=self.hosts)
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
