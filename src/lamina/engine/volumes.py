"""Ephemeral storage: each isolated environment's /tmp is a disk-backed filesystem of exactly its
EphemeralStorage size, so filling it gives the function ENOSPC and never the host, and its pages
are not charged to the function's memory as a tmpfs would be (DESIGN §4).

A volume is a sparse file formatted ext4 and loop-mounted under the pool's directory, its root
owned by the sandbox uid. Making one takes ~30 ms, so the pool keeps one ready for each size in
use; releasing unmounts it and deletes the file in the background. Owns volume files, mounts
and the spare count. Imports nothing from lamina outside the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import logging
import os
import shutil
import stat
import struct
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from lamina.engine import rootfs

log = logging.getLogger("lamina.engine")
MNT_DETACH = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A  # Linux 5.8: attach a file and set its flags in one call
LO_FLAGS_AUTOCLEAR = 4  # the device lets go of the file when its last user (the mount) goes
MS_NOSUID, MS_NODEV = 2, 4
# struct loop_config: fd, block_size, then struct loop_info64 (lo_flags at offset 52 of it), reserved
_LOOP_CONFIG = struct.Struct("II52xI176x64x")

SPARES = 1  # volumes kept ready per size that was asked for
OVERHEAD_MB = 13  # ext4's fixed metadata; inode tables take another 1/64


def image_mb(size_mb: int) -> int:
    """The size of the file behind a volume whose free space is `size_mb`."""
    return size_mb + size_mb // 64 + OVERHEAD_MB


def _unescape(field: str) -> str:
    """A mountinfo path field: spaces, tabs, newlines and backslashes come as octal escapes."""
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mounts_at_or_under(mountinfo: str, directory: str) -> list[str]:
    """The mount points of `mountinfo` (the text of /proc/self/mountinfo) that are `directory` or
    below it, newest first (the order to unmount them in); a path mounted several times (a bind
    stacked on itself) is listed once per mount."""
    directory = directory.rstrip("/") or "/"
    found = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            point = _unescape(fields[4])
            if point == directory or point.startswith(directory + "/"):
                found.append(point)
    return found[::-1]


def _detach(mount_point: str) -> bool:
    """Lazily unmount `mount_point` (umount -l); False if it was not mounted."""
    return _libc.umount2(os.fsencode(mount_point), MNT_DETACH) == 0


def detach_all(directory: Path, attempts: int = 8) -> None:
    """Unmount every mount at or below `directory`, stacked ones included (what a killed server
    left, or what a pool mounted)."""
    for _ in range(attempts):
        found = mounts_at_or_under(Path("/proc/self/mountinfo").read_text(), str(directory))
        if not found:
            return
        for point in found:
            _detach(point)


def available() -> str | None:
    """Why volumes cannot be made here, or None."""
    if os.geteuid() != 0:
        return "mounting volumes needs root"
    if shutil.which("mkfs.ext4") is None:
        return "mkfs.ext4 is not installed (e2fsprogs)"
    if not os.path.exists("/dev/loop-control"):
        return "there is no /dev/loop-control"
    return None


def _ensure_loop_nodes(spare: int = 4) -> None:
    """Containers often have a static /dev: make sure free loop device nodes exist."""
    existing = sorted(int(name[4:]) for name in os.listdir("/dev") if name.startswith("loop") and name[4:].isdigit())
    in_use = len([line for line in Path("/proc/mounts").read_text().splitlines() if line.startswith("/dev/loop")])
    wanted = in_use + spare
    number = (existing[-1] + 1) if existing else 0
    while len(existing) < wanted:
        with contextlib.suppress(FileExistsError):
            os.mknod(f"/dev/loop{number}", 0o660 | stat.S_IFBLK, os.makedev(7, number))
        existing.append(number)
        number += 1


def loop_mount(image: Path, mount_point: Path) -> bool:
    """Mount the ext4 file `image` at `mount_point` (nosuid, nodev) through a free loop device that
    frees itself when unmounted: what `mount -o loop,nosuid,nodev` does, without starting it (the
    command costs ~17 ms of CPU per volume, mostly reading every mount of the host). False when
    it could not (no LOOP_CONFIGURE in this kernel, or any other refusal): the caller then runs the
    command, which reports what is wrong."""
    try:
        return _loop_mount(image, mount_point)
    except OSError as exc:
        log.debug("in-process loop mount of %s failed (%s): running mount", image, exc)
        return False


def _loop_mount(image: Path, mount_point: Path) -> bool:
    with open("/dev/loop-control", "rb") as control, open(image, "r+b") as backing:
        for _ in range(16):  # another process may take the free device first
            number = fcntl.ioctl(control, LOOP_CTL_GET_FREE)
            node = f"/dev/loop{number}"
            if not os.path.exists(node):  # containers often have a static /dev
                with contextlib.suppress(FileExistsError):
                    os.mknod(node, 0o660 | stat.S_IFBLK, os.makedev(7, number))
            device = os.open(node, os.O_RDWR | os.O_CLOEXEC)
            try:
                try:
                    fcntl.ioctl(device, LOOP_CONFIGURE, _LOOP_CONFIG.pack(backing.fileno(), 0, LO_FLAGS_AUTOCLEAR))
                except OSError as exc:
                    if exc.errno == errno.EBUSY:
                        continue
                    if exc.errno in (errno.EINVAL, errno.ENOTTY):
                        return False
                    raise
                if _libc.mount(node.encode(), os.fsencode(mount_point), b"ext4", MS_NOSUID | MS_NODEV, None) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, f"mount {mount_point}: {os.strerror(code)}")
                return True
            finally:
                os.close(device)  # an unmounted device clears itself once closed (autoclear)
    raise OSError(errno.EBUSY, "no free loop device")


class VolumePool:
    def __init__(self, base_dir: Path, owner: int) -> None:
        self.base = Path(base_dir)
        self.owner = owner
        self._ready: dict[int, list[Path]] = {}
        self._making: dict[int, int] = {}
        self._tasks: set[asyncio.Task] = set()
        self._mounted: set[Path] = set()
        self._shared = False
        self._sweep()
        self._share()

    def _sweep(self) -> None:
        """Unmount what a previous server on this data dir left behind (it was killed): its
        volumes and its bind of the pool's directory (a bind of a directory on itself, which
        os.path.ismount does not see, so only mountinfo tells)."""
        detach_all(self.base)
        if self.base.is_dir():
            for leftover in self.base.iterdir():  # mount points and images of the volumes swept
                if leftover.is_dir():
                    with contextlib.suppress(OSError):
                        leftover.rmdir()
                else:
                    leftover.unlink(missing_ok=True)

    def _share(self) -> None:
        """Make the pool's directory a shared mount (bound on itself, once: the sweep left none),
        so a volume mounted after an environment's mount namespace was made ahead (the zygote's
        spares) still appears in it."""
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o700)
        subprocess.run(["mount", "--bind", str(self.base), str(self.base)], check=True, capture_output=True)
        self._shared = True
        subprocess.run(["mount", "--make-shared", str(self.base)], check=True, capture_output=True)

    def _make(self, size_mb: int) -> Path:
        """Create, format and mount one volume (blocking)."""
        name = uuid.uuid4().hex[:12]
        image = self.base / f"{name}.img"
        mount_point = self.base / name
        with open(image, "wb") as f:
            f.truncate(image_mb(size_mb) << 20)
        try:
            subprocess.run(["mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-m", "0",
                            "-E", f"nodiscard,lazy_itable_init=1,root_owner={self.owner}:{self.owner}", str(image)],
                           check=True, capture_output=True, timeout=30)
            mount_point.mkdir()
            if not loop_mount(image, mount_point):
                _ensure_loop_nodes()
                subprocess.run(["mount", "-o", "loop,nosuid,nodev", str(image), str(mount_point)],
                               check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as exc:
            image.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                mount_point.rmdir()
            detail = getattr(exc, "stderr", b"") or b""
            raise OSError(f"cannot make a {size_mb} MB volume: {exc} {detail.decode(errors='replace')}") from exc
        image.unlink()  # the mount keeps it; nothing to clean up if lamina dies
        with contextlib.suppress(OSError):
            shutil.rmtree(mount_point / "lost+found")
        os.chmod(mount_point, 0o700)
        self._mounted.add(mount_point)
        return mount_point

    def _drop(self, mount_point: Path) -> None:
        _detach(str(mount_point))
        self._mounted.discard(mount_point)
        with contextlib.suppress(OSError):
            mount_point.rmdir()

    async def acquire(self, size_mb: int, replenish: bool = True) -> Path:
        """A mounted, empty volume of `size_mb` MB free, writable by the sandbox uid; the next one
        of that size is made in the background now, or (`replenish=False`) when the caller calls
        `replenish` (after the start it is needed for, which it would slow down)."""
        ready = self._ready.get(size_mb)
        volume = ready.pop() if ready else await asyncio.to_thread(self._make, size_mb)
        if replenish:
            self.replenish(size_mb)
        return volume

    def replenish(self, size_mb: int) -> None:
        """Start making the volumes of `size_mb` MB that the pool keeps ready and lacks."""
        have = len(self._ready.get(size_mb, ())) + self._making.get(size_mb, 0)
        for _ in range(SPARES - have):
            self._making[size_mb] = self._making.get(size_mb, 0) + 1
            task = asyncio.get_running_loop().create_task(self._make_spare(size_mb))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _make_spare(self, size_mb: int) -> None:
        try:
            volume = await asyncio.to_thread(self._make, size_mb)
        except OSError as exc:
            log.warning("%s", exc)
            return
        finally:
            self._making[size_mb] -= 1
        self._ready.setdefault(size_mb, []).append(volume)

    def release(self, volume: Path) -> None:
        """Unmount and delete a volume an environment no longer uses (in the background)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._drop(volume)
            return
        task = loop.create_task(asyncio.to_thread(self._drop, volume))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        for volume in list(self._mounted):
            await asyncio.to_thread(self._drop, volume)
        self._ready.clear()
        if self._shared:
            await asyncio.to_thread(detach_all, self.base)
            self._shared = False


def pool_for(work_dir: Path) -> VolumePool | None:
    """The volume pool of a backend working in `work_dir`, or None (with a warning) where volumes
    cannot be made."""
    missing = available()
    if missing is not None:
        log.warning("ephemeral storage is not size-capped: %s", missing)
        return None
    return VolumePool(Path(work_dir) / "volumes", rootfs.SANDBOX_UID)


async def scratch(pool: VolumePool | None, directory: Path, size_mb: int,
                  replenish: bool = True) -> tuple[Path, Callable[[], None]]:
    """An environment's /tmp and how to give it back: a volume of `size_mb` from `pool` (the next
    one made now, or with `replenish=False` when the caller calls `pool.replenish`), or without a
    pool the plain `directory` (owned by the sandbox uid when lamina may chown)."""
    if pool is not None:
        volume = await pool.acquire(size_mb, replenish)
        return volume, lambda: pool.release(volume)
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(directory, rootfs.SANDBOX_UID, rootfs.SANDBOX_UID)
    directory.chmod(0o700)
    return directory, lambda: shutil.rmtree(directory, ignore_errors=True)
