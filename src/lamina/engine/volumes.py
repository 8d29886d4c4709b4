"""Ephemeral storage: each isolated environment's /tmp is a disk-backed filesystem of exactly its
EphemeralStorage size, so filling it gives the function ENOSPC and never the host, and its pages
are not charged to the function's memory as a tmpfs would be (DESIGN §4).

A volume is a sparse file formatted ext4 and loop-mounted under the pool's directory, its root
owned by the sandbox uid. Each size is formatted once (mkfs.ext4 into a template image); a volume
is a sparse copy of its template's few hundred kB of metadata, attached to a loop device with
LOOP_CONFIGURE and mounted with mount(2): no process is started per volume, and nothing scans
the host's loop devices or mounts, so making one costs the same with 3,000 mounted as with none
(`mount -o loop` read every loop device and mount each time). The pool keeps one ready for each
size in use; releasing unmounts it in the background (the loop device detaches itself, the file
was unlinked once mounted). A detached volume's file stays linked while it is mounted and is
deleted once its environment is gone, one at a time on a thread of its own: deleting a file frees
its blocks, which on a host file system mounted with `discard` waits for the disk (~1.5 ms each
here), and done by the kernel as the environment's last mount goes it held up every exit of a
stop. What is still to delete when the server stops (the templates too) is left for the next
start, which deletes it on the same thread, not on its start path. Owns volume files, templates, mounts and the spare
count. Imports nothing from lamina outside the engine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import functools
import logging
import os
import shutil
import stat
import struct
import subprocess
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from lamina.engine import mount_api, rootfs
from lamina.engine.piped import Serial

log = logging.getLogger("lamina.engine")
MNT_DETACH = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
MS_NOSUID = 2
MS_NODEV = 4
LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A  # Linux ≥ 5.8: file and flags in one call
LO_FLAGS_AUTOCLEAR = 4  # the device detaches itself once its file system is unmounted
# struct loop_config: fd, block_size, struct loop_info64 (lo_flags is its 9th field), reserved
_LOOP_CONFIG = struct.Struct("=II5Q4I64s64s32s2Q64x")

SPARES = 1  # volumes kept ready per size that was asked for
# Unmounting a volume waits ~25 ms in the kernel (the loop device detaching), mostly asleep: many
# at once overlap, so ending 3,000 environments takes seconds, not a minute and a half.
DROP_THREADS = 32
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


def loop_config(fd: int) -> bytes:
    """LOOP_CONFIGURE's argument: back the device with `fd`, detach it when unmounted."""
    return _LOOP_CONFIG.pack(fd, 0, 0, 0, 0, 0, 0, 0, 0, 0, LO_FLAGS_AUTOCLEAR, b"", b"", b"", 0, 0)


def data_extents(fd: int) -> list[tuple[int, int]]:
    """(offset, length) of each stretch of a sparse file that holds data."""
    found, position = [], 0
    while True:
        try:
            start = os.lseek(fd, position, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole is left
                return found
            raise
        position = os.lseek(fd, start, os.SEEK_HOLE)
        found.append((start, position - start))


def _copy_extents(source: int, target: int, extents: list[tuple[int, int]]) -> None:
    for offset, length in extents:
        done = 0
        while done < length:
            copied = os.copy_file_range(source, target, length - done, offset + done, offset + done)
            if not copied:
                raise OSError(errno.EIO, "short copy of a volume template")
            done += copied


def _loop_node(number: int) -> str:
    """/dev/loopN, made if this container's static /dev lacks it."""
    path = f"/dev/loop{number}"
    if not os.path.exists(path):
        with contextlib.suppress(FileExistsError):
            os.mknod(path, 0o660 | stat.S_IFBLK, os.makedev(7, number))
    return path


def detached_mount(device: str) -> int:
    """A descriptor of `device`'s ext4 mounted nosuid,nodev in no namespace (fsopen, fsmount):
    the environment attaches it with move_mount; closing the last holder unmounts it."""
    return mount_api.detached("ext4", {"source": device}, mount_api.NOSUID | mount_api.NODEV)


def _mount_at(mount_point: Path) -> Callable[[str], None]:
    def mount(device: str) -> None:
        if _libc.mount(device.encode(), os.fsencode(mount_point), b"ext4", MS_NOSUID | MS_NODEV, None) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"mount {device} on {mount_point}: {os.strerror(code)}")
    return mount


def mount_loop(image: Path, mount: Callable[[str], object]):
    """Attach `image` to a free loop device and mount it with `mount(device)` (what it returns is
    returned). Raises OSError (ENOTTY/EINVAL: this kernel has no LOOP_CONFIGURE)."""
    image_fd = os.open(image, os.O_RDWR | os.O_CLOEXEC)
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(64):  # another attacher may take the free device first: EBUSY, ask again
            device = _loop_node(fcntl.ioctl(control, LOOP_CTL_GET_FREE))
            device_fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
            try:
                try:
                    fcntl.ioctl(device_fd, LOOP_CONFIGURE, loop_config(image_fd))
                except OSError as exc:
                    if exc.errno == errno.EBUSY:
                        continue
                    raise
                # mounted before the last descriptor closes: AUTOCLEAR would detach it at close
                return mount(device)
            finally:
                os.close(device_fd)
        raise OSError(errno.EBUSY, "no free loop device")
    finally:
        os.close(control)
        os.close(image_fd)


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


def _delete(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


class VolumePool:
    def __init__(self, base_dir: Path, owner: int) -> None:
        self.base = Path(base_dir)
        self.owner = owner
        self._ready: dict[int, list[Path]] = {}
        self._making: dict[int, int] = {}
        self._tasks: set[asyncio.Future] = set()
        self._mounted: set[Path] = set()
        self._shared = False
        self._templates: dict[int, tuple[Path, list[tuple[int, int]]]] = {}
        self._template_lock = threading.Lock()
        self._direct = True  # LOOP_CONFIGURE works here (else `mount -o loop` per volume)
        self._dropper: concurrent.futures.ThreadPoolExecutor | None = None  # made on first release
        self._detachable = True  # the kernel has the mount API (fsopen, fsmount, move_mount)
        self._ready_detached: dict[int, list[tuple[int, Path]]] = {}
        # deletes the files of detached volumes once unused, in order; what is queued at close is
        # left to the next start's sweep
        self._deleter = Serial("lamina-volume-delete")
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
                else:  # volume files and templates (unique names): deleted off the start path
                    self.discard(leftover)

    def _share(self) -> None:
        """Make the pool's directory a shared mount (bound on itself, once: the sweep left none),
        so a volume mounted after an environment's mount namespace was made ahead (the zygote's
        spares) still appears in it."""
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o700)
        subprocess.run(["mount", "--bind", str(self.base), str(self.base)], check=True, capture_output=True)
        self._shared = True
        subprocess.run(["mount", "--make-shared", str(self.base)], check=True, capture_output=True)

    def _format(self, image: Path, size_mb: int) -> None:
        with open(image, "wb") as f:
            f.truncate(image_mb(size_mb) << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-m", "0",
                        "-E", f"nodiscard,lazy_itable_init=1,root_owner={self.owner}:{self.owner}", str(image)],
                       check=True, capture_output=True, timeout=30)

    def _template(self, size_mb: int) -> tuple[Path, list[tuple[int, int]]]:
        """The formatted, never mounted image every volume of `size_mb` is copied from."""
        with self._template_lock:
            made = self._templates.get(size_mb)
            if made is None:
                image = self.base / f"template-{size_mb}-{uuid.uuid4().hex[:8]}.img"
                self._format(image, size_mb)
                with open(image, "rb") as f:
                    made = self._templates[size_mb] = (image, data_extents(f.fileno()))
            return made

    def _copy(self, image: Path, size_mb: int) -> None:
        template, extents = self._template(size_mb)
        with open(template, "rb") as source, open(image, "wb") as target:
            target.truncate(image_mb(size_mb) << 20)
            _copy_extents(source.fileno(), target.fileno(), extents)

    def _make(self, size_mb: int) -> Path:
        """Create, format and mount one volume (blocking)."""
        name = uuid.uuid4().hex[:12]
        image = self.base / f"{name}.img"
        mount_point = self.base / name
        try:
            mount_point.mkdir()
            if self._direct:
                try:
                    self._copy(image, size_mb)
                    mount_loop(image, _mount_at(mount_point))
                except OSError as exc:
                    if exc.errno not in (errno.ENOTTY, errno.EINVAL):
                        raise
                    self._direct = False  # an old kernel: format each volume and let mount(8) attach it
                    log.info("volumes are mounted with mount(8): %s", exc)
            if not self._direct:
                self._format(image, size_mb)
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
            (mount_point / "lost+found").rmdir()  # mkfs leaves it empty
        os.chmod(mount_point, 0o700)
        self._mounted.add(mount_point)
        return mount_point

    def _make_detached(self, size_mb: int) -> tuple[int, Path]:
        """One volume as a detached mount's descriptor, its root emptied and private to the
        sandbox uid, and its file (blocking). Raises OSError where the kernel lacks the mount API."""
        image = self.base / f"{uuid.uuid4().hex[:12]}.img"
        try:
            self._copy(image, size_mb)
            fd = mount_loop(image, detached_mount)
        except BaseException:
            image.unlink(missing_ok=True)
            raise
        try:
            with contextlib.suppress(OSError):
                os.rmdir("lost+found", dir_fd=fd)
            os.chmod(f"/proc/self/fd/{fd}", 0o700)
        except BaseException:
            os.close(fd)
            self.discard(image)
            raise
        return fd, image

    def discard(self, image: Path) -> None:
        """Delete a detached volume's file, on the deleting thread: call once nothing mounts it
        any more (its environment is gone, its descriptor closed)."""
        self._deleter.add(functools.partial(_delete, image))  # once abandoned, the next start's sweep deletes it

    async def acquire_detached(self, size_mb: int, replenish: bool = True) -> tuple[int, Path] | None:
        """A descriptor of an empty volume of `size_mb` MB free mounted nowhere and its file, or
        None where this host cannot make one (then `acquire` a mounted one). The caller owns both:
        closing the descriptor, and the last environment holding the mount ending, unmount it;
        then it hands the file to `discard`. The next one of that size is made in the background
        now, or (`replenish=False`) when the caller calls `replenish`."""
        if not self._detachable:
            return None
        ready = self._ready_detached.get(size_mb)
        if ready:
            volume = ready.pop()
        else:
            try:
                volume = await asyncio.to_thread(self._make_detached, size_mb)
            except OSError as exc:
                if exc.errno not in (errno.ENOSYS, errno.EPERM, errno.ENOTTY, errno.EINVAL):
                    raise
                self._detachable = False
                log.info("volumes are mounted under %s: %s", self.base, exc)
                return None
        if replenish:
            self._replenish_detached(size_mb)
        return volume

    def _replenish_detached(self, size_mb: int) -> None:
        key = -size_mb  # _making counts detached spares under the negated size
        have = len(self._ready_detached.get(size_mb, ())) + self._making.get(key, 0)
        for _ in range(SPARES - have):
            self._making[key] = self._making.get(key, 0) + 1
            task = asyncio.get_running_loop().create_task(self._make_detached_spare(size_mb))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _make_detached_spare(self, size_mb: int) -> None:
        try:
            volume = await asyncio.to_thread(self._make_detached, size_mb)
        except OSError as exc:
            log.warning("%s", exc)
            return
        finally:
            self._making[-size_mb] -= 1
        self._ready_detached.setdefault(size_mb, []).append(volume)

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
            self._replenish(size_mb)
        return volume

    def replenish(self, size_mb: int) -> None:
        """Start making the volumes of `size_mb` MB that the pool keeps ready and lacks (detached
        ones where this host makes them)."""
        if self._detachable:
            self._replenish_detached(size_mb)
        else:
            self._replenish(size_mb)

    def _replenish(self, size_mb: int) -> None:
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
        if self._dropper is None:
            self._dropper = concurrent.futures.ThreadPoolExecutor(DROP_THREADS, thread_name_prefix="lamina-volume")
        task = asyncio.wrap_future(self._dropper.submit(self._drop, volume), loop=loop)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._mounted:
            with concurrent.futures.ThreadPoolExecutor(DROP_THREADS, thread_name_prefix="lamina-volume") as dropper:
                await asyncio.gather(*(asyncio.wrap_future(dropper.submit(self._drop, volume))
                                       for volume in list(self._mounted)))
        if self._dropper is not None:
            self._dropper.shutdown(wait=False)
            self._dropper = None
        self._ready.clear()
        for spares in self._ready_detached.values():
            for fd, image in spares:
                os.close(fd)
                self.discard(image)
        self._ready_detached.clear()
        # the file being deleted now is finished; the rest, templates too, are the next start's
        await asyncio.to_thread(self._deleter.abandon)
        self._templates.clear()
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
