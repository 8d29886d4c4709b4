"""Linux's mount API (≥ 5.2; the same system call numbers on every architecture), for file systems
mounted in no namespace: `detached` makes one and returns the descriptor that holds it (closing
the last holder unmounts it), `clone` makes another mount of the same tree (no new superblock).
An environment attaches such a descriptor with move_mount (lamina.runtimes.sandbox._jail).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

SYS_OPEN_TREE, SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT = 428, 430, 431, 432
FSOPEN_CLOEXEC = FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
RDONLY, NOSUID, NODEV = 0x1, 0x2, 0x4  # MOUNT_ATTR_*
OPEN_TREE_CLONE = 1
AT_EMPTY_PATH = 0x1000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args) -> int:
    result = _libc.syscall(number, *args)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def detached(fstype: str, options: dict[str, str], attributes: int) -> int:
    """A descriptor of a new `fstype` file system made with string `options` (fsconfig), mounted
    with `attributes` (RDONLY, NOSUID, NODEV) in no namespace."""
    context = _syscall(SYS_FSOPEN, fstype.encode(), ctypes.c_uint(FSOPEN_CLOEXEC))
    try:
        for key, value in options.items():
            _syscall(SYS_FSCONFIG, context, ctypes.c_uint(FSCONFIG_SET_STRING), key.encode(), value.encode(), 0)
        _syscall(SYS_FSCONFIG, context, ctypes.c_uint(FSCONFIG_CMD_CREATE), None, None, 0)
        return _syscall(SYS_FSMOUNT, context, ctypes.c_uint(FSMOUNT_CLOEXEC), ctypes.c_uint(attributes))
    finally:
        os.close(context)


def clone(mount_fd: int) -> int:
    """A new detached mount of the same tree as `mount_fd` (open_tree: a mount, not a superblock)."""
    return _syscall(SYS_OPEN_TREE, mount_fd, b"", ctypes.c_uint(OPEN_TREE_CLONE | os.O_CLOEXEC | AT_EMPTY_PATH))
