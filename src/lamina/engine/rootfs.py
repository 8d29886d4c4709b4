"""The root filesystem of an isolated environment, as a plan: which host paths appear inside,
where, and whether writable. Both isolating backends (namespaces, bubblewrap) build their new
root from the same plan, so a function sees the same tree whichever isolates it:

    /usr /etc (and the host's /bin /lib /lib64 /sbin links)   read-only: the OS image
    /var/task                                                 read-only: the deployment package
    /opt                                                      read-only: the layers, merged
    <interpreter prefix>, lamina's runtimes, runtime site     read-only, at their host paths
    /tmp                                                      writable: the environment's volume
    /proc /dev                                                new, minimal

Nothing else of the host is visible. Pure functions; imports lamina.engine.sandbox only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lamina.engine.sandbox import Layout, Mounts

TASK_ROOT = "/var/task"
OPT = "/opt"
SYSTEM_DIRS = ("/usr", "/etc")
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SANDBOX_UID = 993  # the unprivileged user functions run as (AWS: sbx_user1051)
HOSTNAME = "169.254.100.1"  # Lambda environments have a link-local address as host name


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


def interpreter_prefix(interpreter: str) -> str:
    """The installation an interpreter belongs to (/usr for the system one, else its prefix)."""
    real = Path(os.path.realpath(interpreter))
    prefix = real.parent.parent
    return "/usr" if str(prefix).startswith("/usr") or str(prefix) == "/" else str(prefix)


def _covered(path: str, by: list[str]) -> bool:
    return any(path == b or path.startswith(b.rstrip("/") + "/") for b in by)


def site_targets(site_dir: Path | None) -> list[str]:
    """The real directories (or files) the runtime site's links point at."""
    if site_dir is None or not site_dir.is_dir():
        return []
    found = []
    for entry in sorted(site_dir.iterdir()):
        if entry.is_symlink():
            found.append(os.path.realpath(entry))
    return found


def plan(mounts: Mounts, interpreter: str, extra_ro: tuple[str, ...] = (),
         host_root: str = "/") -> Plan:
    """The new root for an environment built from `mounts`, run by `interpreter`."""
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
    for link in SYSTEM_LINKS:
        host = os.path.join(host_root, link.lstrip("/"))
        if os.path.islink(host):
            links.append((link, os.readlink(host)))
        elif os.path.isdir(host):
            ro(link)
    ro(interpreter_prefix(interpreter))
    ro(str(Path(mounts.runtime_dir).parent))  # lamina's runtimes (python, rapid, node)
    if mounts.site_dir is not None:
        ro(str(mounts.site_dir))
        for target in site_targets(mounts.site_dir):
            ro(target)
    for path in extra_ro:
        ro(path)
    binds.append(Bind(str(mounts.code_dir), TASK_ROOT))
    binds.append(Bind(str(mounts.tmp_dir), "/tmp", writable=True))
    # parents before children: lamina's own paths may lie under /tmp (a data dir there)
    binds.sort(key=lambda bind: bind.target.rstrip("/").count("/"))
    return Plan(binds=tuple(binds), links=tuple(links),
                opt_layers=tuple(str(d) for d in mounts.layer_dirs), dirs=(OPT,))


def layout(mounts: Mounts, interpreter: str) -> Layout:
    """How `mounts` appear inside an isolating backend's environment."""
    real = os.path.realpath(interpreter)
    bin_dir = os.path.dirname(real)
    return Layout(
        task_root=TASK_ROOT,
        opt_dirs=(OPT,),
        runtime_dir=str(mounts.runtime_dir),
        site_dir=str(mounts.site_dir) if mounts.site_dir else None,
        tmp_dir=None,
        bin_dirs=(bin_dir,) if not bin_dir.startswith("/usr") else (),
        lib_dirs=(os.path.join(os.path.dirname(bin_dir), "lib"),) if not bin_dir.startswith("/usr") else (),
    )
