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
mechanism (`detached_overlay`, `mount_api.clone`) is passed in; imports lamina.engine.mount_api only.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from lamina.engine import mount_api


def detached_overlay(lower_dirs: tuple[str, ...], empty_dir: str) -> int:
    """A descriptor of a read-only, nosuid, nodev overlay of `lower_dirs` (highest first) over
    `empty_dir` (an overlay without an upper layer needs two layers), mounted nowhere."""
    layers = [os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for directory in (*lower_dirs, empty_dir)]
    try:
        lower = ":".join(f"/proc/self/fd/{fd}" for fd in layers)
        return mount_api.detached("overlay", {"source": "lamina", "lowerdir": lower},
                                  mount_api.RDONLY | mount_api.NOSUID | mount_api.NODEV)
    finally:
        for fd in layers:
            os.close(fd)


class SharedOverlays:
    """The overlays in use, by their layers: each made on first use and closed with its last user."""

    def __init__(self, empty_dir: Path, *, make: Callable[[tuple[str, ...], str], int] = detached_overlay,
                 copy: Callable[[int], int] = mount_api.clone, close: Callable[[int], None] = os.close) -> None:
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
