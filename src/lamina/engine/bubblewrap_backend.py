"""The `bubblewrap` sandbox backend: each environment is a `bwrap` process tree in new user, mount,
PID, IPC and UTS namespaces (and an empty network namespace for a function without network),
whose root is built from `rootfs.plan`, with every capability dropped, no_new_privs, the seccomp
deny list and uid 993 inside. For hosts where bwrap exists but lamina cannot use the namespaces
backend.

bwrap itself always runs unprivileged (DESIGN §4: started by root with --uid it would stay root on
the host). When lamina is root, the child that execs bwrap first joins the environment's cgroups
(MemorySize, pids, CPU weight), then, because bwrap resolves its sources as the sandbox uid and
lamina's data dir or interpreter may sit under a directory that uid cannot search (/root), binds
such sources onto a staging directory inside a private mount namespace of its own (gone with
the environment), and only then drops to the sandbox uid. Without root there is no cgroup and
bwrap runs as lamina's user; `not_enforced` says what is missing.

The paths inside are AWS's (/var/lang, /var/runtime, /var/task: `rootfs`), but unlike the
namespaces backend, which shows such directories through overlays named by descriptors,
/proc/self/mountinfo here shows each bind's source path within its file system (for example
the interpreter's installation or the data dir): bwrap offers no way to name a source neutrally.

Owns building the bwrap command line (`command`, pure), the staging, the cgroup of each
environment and its removal, and finding the runtime inside the tree; the plumbing, exit
detection and readings are lamina.engine.piped's. Its dependencies are handed in by
lamina.engine.backends (`host()` says what this host has). Imports lamina.engine only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import importlib.util
import os
import platform
import resource
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from lamina.engine import rootfs, volumes
from lamina.engine.cgroups import Group, Hierarchy
from lamina.engine.piped import RLIMITS, Background, Child, PipedSandbox, Plumbing, children
from lamina.engine.sandbox import Launch, Layout, Mounts, Sandbox, SandboxBackend
from lamina.engine.volumes import VolumePool

UID = rootfs.SANDBOX_UID
SECCOMP = Path(__file__).resolve().parent.parent / "runtimes" / "sandbox" / "_seccomp.py"
CLONE_NEWNS, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 0x20000, 2, 4, 4096, 16384, 1 << 18
_SIGNALLED = range(129, 129 + 64)  # bwrap reports a command killed by signal N as 128 + N


# ---- the command line (pure) -------------------------------------------------------------------

Listing = Callable[[str], Mapping[str, str]]  # directory → {name: "dir" | "file" | "link:<target>"}


def listing(path: str) -> dict[str, str]:
    """What `path` holds, for merging layers by binds."""
    found = {}
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_symlink():
                found[entry.name] = "link:" + os.readlink(entry.path)
            else:
                found[entry.name] = "dir" if entry.is_dir() else "file"
    return found


def _merge(sources: list[str], target: str, list_dir: Listing, out: list[str]) -> None:
    """Bind the union of directories `sources` (lowest precedence first) at `target`: an entry
    only one of them has is bound whole, one that several have as directories is merged below."""
    providers: dict[str, list[tuple[str, str]]] = {}
    for source in sources:
        for name, kind in list_dir(source).items():
            providers.setdefault(name, []).append((os.path.join(source, name), kind))
    for name in sorted(providers):
        path, kind = providers[name][-1]
        dest = f"{target.rstrip('/')}/{name}"
        if kind.startswith("link:"):
            out += ["--symlink", kind[5:], dest]
        elif kind != "dir":
            out += ["--ro-bind", path, dest]
        else:
            dirs: list[str] = []
            for lower, lower_kind in reversed(providers[name]):
                if lower_kind != "dir":
                    break  # a file below a directory is hidden by it, and so is all that is below
                dirs.insert(0, lower)
            if len(dirs) == 1:
                out += ["--ro-bind", dirs[0], dest]
            else:
                out += ["--dir", dest]
                _merge(dirs, dest, list_dir, out)


def opt_args(layers: tuple[str, ...], overlay: bool, list_dir: Listing = listing) -> list[str]:
    """/opt from the layers (lowest precedence first): an empty directory, one bind, an overlay
    (bwrap ≥ 0.9: the last --overlay-src is on top) or, without overlay support, a merge by binds."""
    if not layers:
        return ["--dir", rootfs.OPT]
    if len(layers) == 1:
        return ["--ro-bind", layers[0], rootfs.OPT]
    if overlay:
        out: list[str] = []
        for layer in layers:
            out += ["--overlay-src", layer]
        return [*out, "--ro-overlay", rootfs.OPT]
    out = ["--dir", rootfs.OPT]
    _merge(list(layers), rootfs.OPT, list_dir, out)
    return out


def staged(path: str, stages: Mapping[str, str]) -> str:
    """`path` as bwrap must name it: under the staging directory when a source containing it was
    staged (the longest such source wins)."""
    best = ""
    for source in stages:
        if (path == source or path.startswith(source.rstrip("/") + "/")) and len(source) > len(best):
            best = source
    return stages[best] + path[len(best):] if best else path


def command(plan: rootfs.Plan, argv: list[str], *, network: bool, overlay: bool = False,
            stages: Mapping[str, str] | None = None, seccomp_fd: int | None = None,
            list_dir: Listing = listing, bwrap: str = "bwrap") -> list[str]:
    """The bwrap command line that runs `argv` in the root `plan` describes."""
    stages = stages or {}
    args = [bwrap, "--unshare-user", "--disable-userns", "--uid", str(UID), "--gid", str(UID),
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", rootfs.HOSTNAME]
    if not network:
        args.append("--unshare-net")
    args += ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    for link, points_to in plan.links:
        args += ["--symlink", points_to, link]
    for bind in plan.binds:
        args += ["--bind" if bind.writable else "--ro-bind", staged(bind.source, stages), bind.target]
    if not plan.image:  # an image's root is read-only: no /opt or other directory is made in it
        layers = tuple(staged(layer, stages) for layer in plan.opt_layers)
        # the merge reads the host's layer dirs; the binds it makes must name the staged ones
        host_of = dict(zip(layers, plan.opt_layers, strict=True))
        args += opt_args(layers, overlay, lambda p: list_dir(_unstage(p, host_of)))
        for directory in plan.dirs:
            if directory != rootfs.OPT:
                args += ["--dir", directory]
    args += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/"]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    return [*args, "--chdir", "/" if plan.image else rootfs.TASK_ROOT, "--", *argv]


def _unstage(path: str, host_of: Mapping[str, str]) -> str:
    for layer, host in host_of.items():
        if path == layer or path.startswith(layer + "/"):
            return host + path[len(layer):]
    return path


def exit_status(code: int) -> int:
    """The exit status as the engine reports it: bwrap says 128 + N for a command killed by N."""
    return 128 - code if code in _SIGNALLED else code


def searchable(path: str, uid: int, stat_fn: Callable[[str], os.stat_result] = os.stat) -> bool:
    """Whether `uid` (not root, no supplementary groups) can reach `path`: every directory above it
    grants search to it."""
    parts = Path(path).parts
    for depth in range(1, len(parts)):
        try:
            st = stat_fn(os.path.join(*parts[:depth]))
        except OSError:
            return False
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == uid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


# ---- host facts ------------------------------------------------------------------------------


def _bwrap() -> str | None:
    return shutil.which("bwrap")


def _seccomp_program() -> bytes | None:
    """The deny list the namespaces backend installs, as raw BPF for `bwrap --seccomp`."""
    try:
        spec = importlib.util.spec_from_file_location("_lamina_seccomp", SECCOMP)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except (OSError, ImportError, AttributeError):
        return None
    return module.encode(platform.machine())


def overlay_supported(bwrap: str) -> bool:
    try:
        out = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--ro-overlay" in out.stdout


def unavailable() -> str | None:
    """Why this host cannot run the bubblewrap backend, or None."""
    bwrap = _bwrap()
    if bwrap is None:
        return "bwrap is not installed (apt-get install bubblewrap)"
    probe = [bwrap, "--unshare-user", "--unshare-pid", "--ro-bind", "/", "/", "--proc", "/proc", "true"]
    drop = _drop_to(UID) if os.geteuid() == 0 else None
    try:
        out = subprocess.run(probe, capture_output=True, timeout=10, preexec_fn=drop, cwd="/", env={})
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bwrap cannot be run: {exc}"
    if out.returncode != 0:
        who = f"uid {UID}" if drop else "lamina's user"
        return (f"bwrap cannot create namespaces as {who} ({out.stderr.decode(errors='replace').strip()}); "
                "unprivileged user namespaces must be enabled (sysctl user.max_user_namespaces, "
                "kernel.unprivileged_userns_clone, kernel.apparmor_restrict_unprivileged_userns)")
    return None


def _drop_to(uid: int) -> Callable[[], None]:
    def drop() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return drop


# ---- the child's set-up before exec (root only) ----------------------------------------------


class _Libc:
    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.unshare = libc.unshare
        self.unshare.argtypes = [ctypes.c_int]
        self.mount = libc.mount
        self.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]

    def check(self, result: int, what: str) -> None:
        if result != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _child_setup(procs: list[str], stage_root: str | None, stages: Mapping[str, str], uid: int | None,
                 libc: _Libc | None) -> Callable[[], None]:
    """What runs in the forked child before it execs bwrap: rlimits, joining the cgroup, the
    staging binds in a private mount namespace, then the uid drop. Only os calls and prepared
    ctypes functions (the parent has threads)."""
    procs_b = [p.encode() for p in procs]
    # (source, target, is a directory): a file (the hosts file) is bound onto an empty file
    binds = [(source.encode(), target.encode(), os.path.isdir(source)) for source, target in stages.items()]
    root_b = stage_root.encode() if stage_root else None

    def setup() -> None:
        for limit, value in RLIMITS:
            resource.setrlimit(limit, (value, value))
        for path in procs_b:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        if binds and libc is not None and root_b is not None:
            libc.check(libc.unshare(CLONE_NEWNS), "unshare")
            libc.check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
            libc.check(libc.mount(b"tmpfs", root_b, b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=64k"),
                       "staging tmpfs")
            for source, target, directory in binds:
                if directory:
                    os.mkdir(target, 0o755)
                else:
                    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                libc.check(libc.mount(source, target, None, MS_BIND | MS_REC, None), "staging bind")
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

    return setup


# ---- the handle ------------------------------------------------------------------------------


class BubblewrapSandbox(PipedSandbox):
    """bwrap (our child, leader of its own process group) → bwrap as PID 1 of the new namespace →
    the runtime. Killing the outer bwrap ends the rest (--die-with-parent, then the PID namespace
    goes with its PID 1); the cgroup, when there is one, catches anything else."""

    def __init__(self, proc: subprocess.Popen, plumbing: Plumbing, *, group: Group | None,
                 cleanup: Callable[[], None]) -> None:
        super().__init__(proc.pid, plumbing, group=group, cleanup=cleanup)
        self._child = Child(proc, lambda code: self.exited(exit_status(code)))
        self._runtime_pid: int | None = None

    def _measured_pid(self) -> int | None:
        """The runtime's host pid (PID 2 inside): the first child of bwrap's PID 1, itself the
        first child of the outer bwrap. The kernel lists a process's children oldest first
        (orphans reparented to PID 1 later are appended), so reading its lists is right by
        construction; None until both forks happened."""
        if self._runtime_pid is None:
            outer = children(self.pid)
            inner = children(outer[0]) if outer else []
            self._runtime_pid = inner[0] if inner else None
        return self._runtime_pid

    def _signal(self, signum: int) -> None:
        """SIGTERM to the runtime (the outer bwrap would just die and take it along); SIGKILL to
        the outer bwrap's process group and everything in the cgroup."""
        runtime = self._measured_pid() if signum == signal.SIGTERM else None
        if runtime is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(runtime, signum)
            return
        self._child.signal_group(signum)
        if signum == signal.SIGKILL and self._group is not None:
            for pid in self._group.pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        self._child.close()
        super().close()


# ---- the backend -----------------------------------------------------------------------------


def host() -> dict:
    """What this host gives the backend besides the cgroups and volumes every isolating backend
    gets: BubblewrapBackend's keyword arguments bwrap, root, overlay and seccomp."""
    bwrap = _bwrap()
    if bwrap is None:
        raise ValueError("The bubblewrap sandbox backend cannot run here: bwrap is not installed.")
    return {"bwrap": bwrap, "root": os.geteuid() == 0, "overlay": overlay_supported(bwrap),
            "seccomp": _seccomp_program()}


def _release(group: Group | None, release: Callable[[], None]) -> None:
    if group is not None:
        group.remove()
    release()


RAPID_ONLY_VARIABLE = "_LAMINA_RAPID_ONLY"  # variables rapid keeps for itself, not for what it starts


class BubblewrapBackend(SandboxBackend):
    name = "bubblewrap"

    def __init__(self, *, bwrap: str, root: bool, hierarchy: Hierarchy | None, volumes: VolumePool | None,
                 overlay: bool, seccomp: bytes | None, hosts: str | None = None) -> None:
        """Everything it depends on is handed in (by lamina.engine.backends, from `host()`): the
        bwrap executable, whether lamina is root, the cgroup hierarchy (None: no limits), the /tmp
        volume pool (None: plain directories), whether bwrap can overlay /opt, the seccomp
        program (None: no list for this machine) and the file shown at /etc/hosts
        (lamina.engine.hosts; None: the host's)."""
        self.bwrap = bwrap
        self.hosts = hosts
        self.root = root
        self.overlay = overlay
        self.seccomp = seccomp
        self.hierarchy = hierarchy
        self.volumes = volumes
        self._libc = _Libc() if self.root else None
        self._stage_root: str | None = None
        if self.root:
            self._stage_root = tempfile.mkdtemp(prefix="lamina-bwrap-")
            os.chmod(self._stage_root, 0o755)  # an empty mount point: filled only in each child's namespace
        self.background = Background()
        self.not_enforced = []
        if self.hierarchy is None:
            why = "lamina is not root" if not self.root else "no writable memory cgroup"
            self.not_enforced += [f"memory limit (MemorySize is reported, not enforced: {why})",
                                  "pids limit", "cpu share"]
        elif "cpu" not in self.hierarchy.controllers:
            self.not_enforced.append("cpu share")
        if self.volumes is None:
            self.not_enforced.append("ephemeral storage limit (/tmp is a plain directory)")
        if not self.root:
            self.not_enforced.append("unprivileged host uid (functions are uid 993 inside, lamina's own user "
                                     "on the host)")
        if self.seccomp is None:
            self.not_enforced.append(f"seccomp deny list (no list for {platform.machine()})")

    def layout(self, mounts: Mounts, interpreter: str) -> Layout:
        return rootfs.layout(mounts, interpreter)

    def _stages(self, sources: Iterable[str]) -> dict[str, str]:
        """Sources the sandbox uid cannot reach → where the child binds them for bwrap to see."""
        if not self.root or self._stage_root is None:
            return {}
        stages: dict[str, str] = {}
        for source in sources:
            if source not in stages and not searchable(source, UID):
                stages[source] = os.path.join(self._stage_root, str(len(stages)))
        return stages

    async def start(self, launch: Launch) -> Sandbox:
        tmp, release = await volumes.scratch(self.volumes, launch.mounts.tmp_dir, launch.ephemeral_mb)
        mounts = dataclasses.replace(launch.mounts, tmp_dir=tmp)
        plan = rootfs.plan(mounts, launch.interpreter, hosts=self.hosts)
        stages = self._stages([*(b.source for b in plan.binds), *plan.opt_layers])
        group: Group | None = None
        filter_r: int | None = None
        with Plumbing() as plumbing:
            plumbing.on_failure(release)
            try:
                if self.seccomp is not None:
                    filter_r, filter_w = os.pipe()
                    os.write(filter_w, self.seccomp)
                    os.close(filter_w)
                moved = rootfs.moves(plan)  # run the interpreter and bootstrap at their paths inside
                variables = launch.env
                if plan.image:  # rapid runs on the host's C library and interpreter, not the image's
                    runtime = [*rootfs.loader_argv(launch.interpreter, moved), "-s", "-u",
                               rootfs.inside(str(launch.bootstrap), moved)]
                    home = rootfs.inside(rootfs.interpreter_prefix(launch.interpreter), moved)
                    variables = {**variables, "PYTHONHOME": home, RAPID_ONLY_VARIABLE: "PYTHONHOME"}
                else:
                    runtime = [rootfs.inside(os.path.realpath(launch.interpreter), moved), "-s", "-u",
                               rootfs.inside(str(launch.bootstrap), moved)]
                argv = command(plan, runtime, network=launch.network,
                               overlay=self.overlay, stages=stages, seccomp_fd=filter_r, bwrap=self.bwrap)
                if self.hierarchy is not None:
                    group = self.hierarchy.create(launch.env_id)
                    plumbing.on_failure(group.remove)
                    group.set_limits(launch.memory_mb)
                setup = _child_setup(group.procs_files if group else [], self._stage_root, stages,
                                     UID if self.root else None, self._libc)
                keep = (plumbing.channel_fd,) if filter_r is None else (plumbing.channel_fd, filter_r)
                proc = subprocess.Popen(argv, cwd="/", env=plumbing.environment(variables),
                                        stdin=subprocess.DEVNULL, stdout=plumbing.output_fd, stderr=plumbing.output_fd,
                                        pass_fds=keep, start_new_session=True, preexec_fn=setup)
            except subprocess.SubprocessError as exc:
                raise OSError(f"cannot start bwrap: {exc}") from exc
            finally:
                if filter_r is not None:
                    os.close(filter_r)

        def cleanup() -> None:  # may wait for the cgroup to empty: off the loop, awaited by close()
            self.background.add(asyncio.get_running_loop().run_in_executor(None, _release, group, release))

        return BubblewrapSandbox(proc, plumbing, group=group, cleanup=cleanup)

    async def close(self) -> None:
        await self.background.finish()
        if self.volumes is not None:
            await self.volumes.close()
        if self.hierarchy is not None:
            await asyncio.to_thread(self.hierarchy.remove)
        if self._stage_root is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self._stage_root)
