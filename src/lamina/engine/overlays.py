"""Read-only overlays shared by the environments of a function version: its /var/task (the
deployment package) and its /opt (the layers, merged), each made once while any environment
uses it instead of once per environment.

An overlay is a superblock, and every superblock registers a memcg-aware shrinker whose
per-cgroup state each environment's memory cgroup pays for, sized by the highest shrinker id:
one overlay per environment made each environment's kernel memory grow with the number of
environments. Here an overlay is a detached mount (fsopen, fsmount: mounted in no namespace,
so nothing shows on the host), held by one descriptor while environments use it; each
environment gets a clone of it (open_tree: a mount, not a superblock), which it attaches at its
path (lamina.runtimes.sandbox._jail). Its layers are named by descriptors (`/proc/self/fd/N`),
so mountinfo inside shows no host path. When the last environment using an overlay is gone, or
the backend closes, its descriptor is closed; the kernel drops it with the last clone. The
mechanism (`detached_overlay`, `clone`) is passed in; imports nothing from lamina.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from collections.abc import Callable
from pathlib import Path

# The mount API (Linux ≥ 5.2; open_tree of a detached mount needs a recent kernel): the same
# numbers on every architecture
SYS_OPEN_TREE, SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT = 428, 430, 431, 432
FSOPEN_CLOEXEC = FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_EMPTY_PATH = 0x1000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args) -> int:
    result = _libc.syscall(number, *args)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def detached_overlay(lower_dirs: tuple[str, ...], empty_dir: str) -> int:
    """A descriptor of a read-only, nosuid, nodev overlay of `lower_dirs` (highest first) over
    `empty_dir` (an overlay without an upper layer needs two layers), mounted nowhere."""
    layers = [os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for directory in (*lower_dirs, empty_dir)]
    try:
        context = _syscall(SYS_FSOPEN, b"overlay", ctypes.c_uint(FSOPEN_CLOEXEC))
        try:
            lower = ":".join(f"/proc/self/fd/{fd}" for fd in layers).encode()
            _syscall(SYS_FSCONFIG, context, ctypes.c_uint(FSCONFIG_SET_STRING), b"source", b"lamina", 0)
            _syscall(SYS_FSCONFIG, context, ctypes.c_uint(FSCONFIG_SET_STRING), b"lowerdir", lower, 0)
            _syscall(SYS_FSCONFIG, context, ctypes.c_uint(FSCONFIG_CMD_CREATE), None, None, 0)
            return _syscall(SYS_FSMOUNT, context, ctypes.c_uint(FSMOUNT_CLOEXEC),
                            ctypes.c_uint(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV))
        finally:
            os.close(context)
    finally:
        for fd in layers:
            os.close(fd)


def clone(mount_fd: int) -> int:
    """A new detached mount of the same tree (no new superblock), for one environment to attach."""
    return _syscall(SYS_OPEN_TREE, mount_fd, b"", ctypes.c_uint(OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH))


class SharedOverlays:
    """The overlays in use, by their layers: each made on first use and closed with its last user."""

    def __init__(self, empty_dir: Path, *, make: Callable[[tuple[str, ...], str], int] = detached_overlay,
                 copy: Callable[[int], int] = clone, close: Callable[[int], None] = os.close) -> None:
        self._empty = empty_dir
        self._make, self._copy, self._close = make, copy, close
        self._held: dict[tuple[str, ...], list[int]] = {}  # layers → [descriptor, users]
        self.available = True  # False once the kernel refused one: environments make their own

    def acquire(self, lower_dirs: tuple[str, ...]) -> int | None:
        """A clone of the overlay of `lower_dirs` (highest first) for one more environment, to be
        attached by it (the caller closes this descriptor once it is sent), or None when the kernel
        cannot make one (the environment makes its own overlay, as without this). Each acquire
        that returned a descriptor is matched by one `release`."""
        if not self.available:
            return None
        held = self._held.get(lower_dirs)
        if held is None:
            if not all(os.path.isdir(directory) for directory in lower_dirs):
                return None  # the environment binds it (lamina.runtimes.sandbox._jail), as before
            try:
                self._empty.mkdir(parents=True, exist_ok=True)
                fd = self._make(lower_dirs, str(self._empty))
            except OSError as exc:
                if exc.errno in (errno.ENOSYS, errno.EPERM):
                    self.available = False
                return None
            held = self._held[lower_dirs] = [fd, 0]
        try:
            copy = self._copy(held[0])
        except OSError:
            if held[1] == 0:
                del self._held[lower_dirs]
                self._close(held[0])
            self.available = False
            return None
        held[1] += 1
        return copy

    def release(self, lower_dirs: tuple[str, ...]) -> None:
        """One environment given a clone of this overlay is gone: the last one closes it."""
        held = self._held.get(lower_dirs)
        if held is None:
            return
        held[1] -= 1
        if held[1] <= 0:
            del self._held[lower_dirs]
            self._close(held[0])

    def close(self) -> None:
        """The backend stops: every overlay's descriptor is closed (environments still attached
        keep theirs until they exit)."""
        for fd, _ in self._held.values():
            self._close(fd)
        self._held.clear()

    def __len__(self) -> int:
        return len(self._held)
