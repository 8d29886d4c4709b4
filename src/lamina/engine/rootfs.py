"""The root filesystem of an isolated environment, as a plan: which host paths appear inside,
where, and whether writable. Both isolating backends (namespaces, bubblewrap) build their new
root from the same plan, so a function sees the same tree whichever isolates it:

    /usr /etc (and the host's /bin /lib /lib64 /sbin links)   read-only: the OS image
    /etc/hosts                                                read-only: lamina.engine.hosts's file
    /var/lang                                                 read-only: the interpreter's prefix
    /var/runtime                                              read-only: the runtime image
    /var/task                                                 read-only: the deployment package
    /opt                                                      read-only: the layers, merged
    /tmp                                                      writable: the environment's volume
    /mnt/NAME                                                 writable: a file system (FileSystemConfigs)
    /proc /dev                                                new, minimal

These are AWS's paths; nothing else of the host is visible, and no host path of lamina's (the
repository, the interpreter's installation, the data dir) appears inside: `moves` says which host
path shows where, so what runs inside can translate paths it learnt on the host. An interpreter
in /usr (the OS's own) stays there, as no /var/lang is needed. Pure functions; imports
lamina.engine.sandbox only.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from lamina.engine.sandbox import Layout, Mounts

TASK_ROOT = "/var/task"
LANG = "/var/lang"  # AWS: the runtime's interpreter (sys.prefix)
RUNTIME = "/var/runtime"  # AWS: LAMBDA_RUNTIME_DIR
OPT = "/opt"
SYSTEM_DIRS = ("/usr", "/etc")
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SANDBOX_UID = 993  # the unprivileged user functions run as (AWS: sbx_user1051)
HOSTNAME = "169.254.100.1"  # Lambda environments have a link-local address as host name
HOSTS = "/etc/hosts"  # over the host's: what the environment's names resolve to (lamina.engine.hosts)


@dataclass(frozen=True)
class Bind:
    source: str
    target: str
    writable: bool = False


@dataclass(frozen=True)
class Plan:
    binds: tuple[Bind, ...]
    links: tuple[tuple[str, str], ...]  # (link path inside, what it points to)
    opt_layers: tuple[str, ...] = ()  # host layer dirs merged at /opt, lowest precedence first
    dirs: tuple[str, ...] = field(default=())  # empty directories to create (mount points)
    image: bool = False  # the first bind is a container image's root (read-only: nothing is created in it)


@functools.lru_cache(maxsize=64)
def interpreter_prefix(interpreter: str) -> str:
    """The installation an interpreter belongs to (/usr for the system one, else its prefix).
    Remembered: resolving the links costs a system call per path component on every start."""
    real = Path(os.path.realpath(interpreter))
    prefix = real.parent.parent
    return "/usr" if str(prefix).startswith("/usr") or str(prefix) == "/" else str(prefix)


def _covered(path: str, by: list[str]) -> bool:
    return any(path == b or path.startswith(b.rstrip("/") + "/") for b in by)


IMAGE_USR = "/.lamina/usr"  # the host's /usr inside an image root: what rapid (the host Python) runs from
IMAGE_LANG = "/.lamina/lang"  # the interpreter's prefix when it is not under /usr
IMAGE_RUNTIME = "/.lamina/runtime"  # rapid


def image_plan(mounts: Mounts, interpreter: str) -> Plan:
    """The root of a container image function: the image itself, read-only, with lamina's Runtime
    API server (rapid, run by the host interpreter) under /.lamina, a writable /tmp and the file
    systems. The mount points exist in every unpacked image (lamina.images.unpack)."""
    binds = [Bind(str(mounts.image_root), "/"), Bind("/usr", IMAGE_USR)]
    prefix = interpreter_prefix(interpreter) if interpreter else "/usr"
    if prefix != "/usr":
        binds.append(Bind(prefix, IMAGE_LANG))
    binds.append(Bind(str(mounts.runtime_dir), IMAGE_RUNTIME))
    binds.append(Bind(str(mounts.tmp_dir), "/tmp", writable=True))
    for host_dir, mount_path in mounts.file_systems:
        binds.append(Bind(str(host_dir), mount_path, writable=True))
    return Plan(binds=tuple(binds), links=(), image=True)


def _by_depth(binds: list[Bind]) -> tuple[Bind, ...]:
    return tuple(sorted(binds, key=lambda bind: bind.target.rstrip("/").count("/")))  # parents before children


def shared(interpreter: str, runtime_dir: str, extra_ro: tuple[str, ...] = (), host_root: str = "/",
           hosts: str | None = None) -> Plan:
    """The part of `plan` every environment of `interpreter` with this runtime image shares: the
    OS image (with `hosts` at /etc/hosts), /var/lang and /var/runtime (no /var/task, /opt, /tmp or
    file systems), with the mount points of /var/task, /opt and /tmp (a read-only copy of it gets
    none later)."""
    binds, links = _shared(interpreter, runtime_dir, extra_ro, host_root, hosts)
    return Plan(binds=_by_depth(binds), links=tuple(links), dirs=(OPT, TASK_ROOT, "/tmp"))


def _shared(interpreter: str, runtime_dir: str, extra_ro: tuple[str, ...],
            host_root: str, hosts: str | None = None) -> tuple[list[Bind], list[tuple[str, str]]]:
    binds: list[Bind] = []
    links: list[tuple[str, str]] = []
    visible: list[str] = []

    def ro(source: str, target: str | None = None) -> None:
        target = target or source
        if target == source and _covered(source, visible):
            return
        binds.append(Bind(source, target))
        visible.append(target)

    for directory in SYSTEM_DIRS:
        ro(directory)
    if hosts and os.path.exists(os.path.join(host_root, HOSTS.lstrip("/"))):  # bound over the host's
        binds.append(Bind(hosts, HOSTS))
    for link in SYSTEM_LINKS:
        host = os.path.join(host_root, link.lstrip("/"))
        if os.path.islink(host):
            links.append((link, os.readlink(host)))
        elif os.path.isdir(host):
            ro(link)
    prefix = interpreter_prefix(interpreter) if interpreter else "/usr"
    if prefix != "/usr":
        ro(prefix, LANG)
    ro(runtime_dir, RUNTIME)
    for path in extra_ro:
        ro(path)
    return binds, links


def plan(mounts: Mounts, interpreter: str, extra_ro: tuple[str, ...] = (),
         host_root: str = "/", hosts: str | None = None) -> Plan:
    """The new root for an environment built from `mounts`, run by `interpreter`, with the file
    `hosts` (lamina.engine.hosts) at /etc/hosts; a container image keeps its own."""
    if mounts.image_root is not None:
        return image_plan(mounts, interpreter)
    binds, links = _shared(interpreter, str(mounts.runtime_dir), extra_ro, host_root, hosts)
    binds.append(Bind(str(mounts.code_dir), TASK_ROOT))
    binds.append(Bind(str(mounts.tmp_dir), "/tmp", writable=True))
    for host_dir, mount_path in mounts.file_systems:  # EFS access points: shared, read-write
        binds.append(Bind(str(host_dir), mount_path, writable=True))
    return Plan(binds=_by_depth(binds), links=tuple(links),
                opt_layers=tuple(str(d) for d in mounts.layer_dirs), dirs=(OPT,))


def rest(plan: Plan, part: Plan) -> tuple[Bind, ...] | None:
    """The binds of `plan` left to make once `part` (a `shared` plan) is built, or None when `plan`
    cannot start from `part`: it lacks one of part's binds or links, or a bind left would land in
    one of part's (or the other way round), so building them apart could change the tree."""
    if plan.image or set(plan.links) != set(part.links) or not set(part.binds) <= set(plan.binds):
        return None
    taken = [bind.target for bind in part.binds]
    left = tuple(bind for bind in plan.binds if bind not in part.binds)
    for bind in left:
        if _covered(bind.target, taken) or any(_covered(target, [bind.target]) for target in taken):
            return None
    return left


def moves(plan: Plan) -> list[tuple[str, str]]:
    """(host path, path inside) of every read-only bind shown elsewhere than at its host path,
    longest host path first, for translating paths learnt on the host."""
    found = [(b.source.rstrip("/") or "/", b.target) for b in plan.binds
             if b.source != b.target and not b.writable and b.target not in ("/", HOSTS)]  # an image root needs none
    return sorted(found, key=lambda move: len(move[0]), reverse=True)


def inside(path: str, moved: list[tuple[str, str]]) -> str:
    """`path` as seen inside (unchanged when no move covers it)."""
    for host, target in moved:
        if path == host or path.startswith(host + "/"):
            return target + path[len(host):]
    return path


def layout(mounts: Mounts, interpreter: str) -> Layout:
    """How `mounts` appear inside an isolating backend's environment."""
    if mounts.image_root is not None:
        return Layout(task_root=TASK_ROOT, opt_dirs=(), runtime_dir=RUNTIME, site_dir=None, tmp_dir=None)
    managed = bool(interpreter) and interpreter_prefix(interpreter) != "/usr"
    return Layout(
        task_root=TASK_ROOT,
        opt_dirs=(OPT,),
        runtime_dir=RUNTIME,
        site_dir=None,
        tmp_dir=None,
        bin_dirs=(f"{LANG}/bin",) if managed else (),
        lib_dirs=(f"{LANG}/lib",) if managed else (),
    )


def preload_moves(interpreter: str, python_runtime_dir: str, rapid_dir: str | None = None) -> list[tuple[str, str]]:
    """The moves a managed Python environment sees for the interpreter and the Python runtime
    image (and a custom runtime's environment for rapid's directory): what a zygote that imports
    from there ahead of any environment translates with."""
    found = [(python_runtime_dir.rstrip("/"), RUNTIME)]
    if rapid_dir:
        found.append((rapid_dir.rstrip("/"), RUNTIME))
    prefix = interpreter_prefix(interpreter)
    if prefix != "/usr":
        found.append((prefix, LANG))
    return sorted(found, key=lambda move: len(move[0]), reverse=True)


def loader_argv(interpreter: str, moved: list[tuple[str, str]], loader: str = "/lib64/ld-linux-x86-64.so.2") -> list[str]:
    """How to exec the host `interpreter` inside a container image's root, whose own C library may
    differ from the host's: through the host's dynamic loader (seen under /.lamina/usr), with the
    host's libraries and the interpreter's own first on its search path."""
    real_loader = os.path.realpath(loader)
    real = os.path.realpath(interpreter)
    libraries = [os.path.dirname(real_loader), os.path.join(interpreter_prefix(interpreter), "lib")]
    return [inside(real_loader, moved), "--library-path", ":".join(inside(d, moved) for d in libraries),
            inside(real, moved)]
