"""Control groups for execution environments: one group per environment with a memory limit of
MemorySize, a pids limit and a CPU weight proportional to memory, as Lambda allocates CPU.

Works on cgroup v2 where its controllers are delegated to lamina and on v1 otherwise. Owns
finding the hierarchy lamina may use, creating and removing groups, setting limits and reading
the OOM-kill counter and peak usage. The pure rules (`cpu_shares`, `cpu_weight`, `parse_oom_kills`)
have table tests. Imports nothing from lamina.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpu")
FULL_CPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB
PIDS_MAX = 1024  # Lambda's limit on processes and threads per environment


def cpu_shares(memory_mb: int) -> int:
    """cgroup v1 cpu.shares proportional to memory: 1024 (a whole CPU's weight) at 1,769 MB."""
    return max(2, memory_mb * 1024 // FULL_CPU_MB)


def cpu_weight(memory_mb: int) -> int:
    """cgroup v2 cpu.weight proportional to memory: 100 (the default) at 1,769 MB."""
    return min(10000, max(1, memory_mb * 100 // FULL_CPU_MB))


def parse_oom_kills(text: str) -> int:
    """The `oom_kill N` counter of memory.oom_control (v1) or memory.events (v2)."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return 0


def _own_path(controller: str | None) -> str:
    """This process's group in `controller`'s hierarchy (None: the v2 unified one)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, names, path = line.split(":", 2)
        if controller is None and number == "0" and names == "":
            return path
        if controller is not None and controller in names.split(","):
            return path
    raise OSError(f"this process is in no {controller or 'cgroup v2'} group")


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) and (path / "cgroup.procs").exists()


@dataclass
class Group:
    """One environment's group: a directory per v1 controller, or one v2 directory."""

    name: str
    version: int
    dirs: dict[str, Path]  # controller (or "unified") → directory

    @property
    def procs_files(self) -> list[str]:
        """The files a process writes its pid (or 0) to in order to join."""
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def _write(self, controller: str, name: str, value: str) -> None:
        directory = self.dirs.get(controller) or self.dirs.get("unified")
        if directory is None:
            return
        with contextlib.suppress(FileNotFoundError, PermissionError), open(directory / name, "w") as f:
            f.write(value)

    def _read(self, controller: str, name: str) -> str:
        directory = self.dirs.get(controller) or self.dirs.get("unified")
        if directory is None:
            return ""
        try:
            return (directory / name).read_text()
        except OSError:
            return ""

    def set_limits(self, memory_mb: int, pids_max: int = PIDS_MAX) -> None:
        """Set (or change: a spare's group has the last size asked for) the limits for `memory_mb`."""
        memory = str(memory_mb << 20)
        if self.version == 1:
            try:
                self._write("memory", "memory.limit_in_bytes", memory)
            except OSError:  # raising it: the memory+swap limit must go up first
                self._write("memory", "memory.memsw.limit_in_bytes", memory)
                self._write("memory", "memory.limit_in_bytes", memory)
            self._write("memory", "memory.memsw.limit_in_bytes", memory)  # no swapping past it
            self._write("cpu", "cpu.shares", str(cpu_shares(memory_mb)))
        else:
            self._write("memory", "memory.max", memory)
            self._write("memory", "memory.swap.max", "0")
            self._write("memory", "memory.oom.group", "1")
            self._write("cpu", "cpu.weight", str(cpu_weight(memory_mb)))
        self._write("pids", "pids.max", str(pids_max))

    def oom_kills(self) -> int:
        if self.version == 1:
            return parse_oom_kills(self._read("memory", "memory.oom_control"))
        return parse_oom_kills(self._read("memory", "memory.events"))

    def peak_kb(self) -> int:
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        text = self._read("memory", name).strip()
        return int(text) // 1024 if text.isdigit() else 0

    def pids(self) -> list[int]:
        found: set[int] = set()
        for directory in self.dirs.values():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
        return sorted(found)

    def remove(self, timeout: float = 2.0) -> bool:
        """Kill whatever is left in the group and remove it; False if it could not be removed.
        An empty group (an environment the zygote reaped) is removed at once; only a busy one
        has its processes read and killed."""
        deadline = time.monotonic() + timeout
        while True:
            removed = True
            for directory in self.dirs.values():
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    removed = False
            if removed or time.monotonic() > deadline:
                return removed
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(parent: Path) -> None:
    """Remove the groups of lamina servers that died without cleaning up (killed with SIGKILL)."""
    with contextlib.suppress(OSError):
        for stale in parent.iterdir():
            name, _, pid = stale.name.rpartition("-")
            if name in ("lamina", "lamina-probe") and pid.isdigit() and not _alive(int(pid)):
                for child in [c for c in stale.iterdir() if c.is_dir()]:
                    Group(child.name, 1, {"x": child}).remove(timeout=1.0)
                with contextlib.suppress(OSError):
                    stale.rmdir()


class Hierarchy:
    """Where lamina creates environment groups: `<own group>/lamina-<pid>/` in each controller."""

    def __init__(self, version: int, bases: dict[str, Path]) -> None:
        self.version = version
        self.bases = bases

    @classmethod
    def detect(cls, tag: str | None = None) -> Hierarchy | None:
        """The hierarchy lamina can use here, or None (no rights, or no memory controller)."""
        tag = tag or f"lamina-{os.getpid()}"
        unified = ROOT if (ROOT / "cgroup.controllers").exists() else None
        if unified is not None:
            try:
                own = unified / _own_path(None).lstrip("/")
                controllers = set((own / "cgroup.controllers").read_text().split())
            except OSError:
                controllers = set()
            if {"memory", "pids"} <= controllers and _writable(own):
                return cls._make(2, {"unified": own / tag})
        bases: dict[str, Path] = {}
        for controller in V1_CONTROLLERS:
            mount = ROOT / controller
            try:
                own = mount / _own_path(controller).lstrip("/")
            except OSError:
                continue
            if _writable(own):
                bases[controller] = own / tag
        if "memory" not in bases:
            return None
        return cls._make(1, bases)

    @classmethod
    def _make(cls, version: int, bases: dict[str, Path]) -> Hierarchy | None:
        try:
            for base in bases.values():
                _sweep(base.parent)
                base.mkdir(exist_ok=True)
            if version == 2:
                base = bases["unified"]
                (base / "cgroup.subtree_control").write_text("+memory +pids +cpu")
        except OSError:
            try:
                if version == 2:
                    (bases["unified"] / "cgroup.subtree_control").write_text("+memory +pids")
                else:
                    return None
            except OSError:
                return None
        return cls(version, bases)

    @property
    def controllers(self) -> list[str]:
        return sorted(self.bases) if self.version == 1 else ["memory", "pids", "cpu"]

    def create(self, name: str) -> Group:
        dirs = {controller: base / name for controller, base in self.bases.items()}
        for directory in dirs.values():
            directory.mkdir(exist_ok=True)
        return Group(name, self.version, dirs)

    def remove(self) -> None:
        """Remove every group left and lamina's own directories (at shutdown)."""
        for base in self.bases.values():
            if not base.exists():
                continue
            for child in base.iterdir():
                if child.is_dir():
                    Group(child.name, self.version, {"x": child}).remove(timeout=1.0)
            with contextlib.suppress(OSError):
                base.rmdir()
