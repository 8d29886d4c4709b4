"""File systems: the host directories that stand in for EFS access points (FileSystemConfigs).

Owns the mapping from an access point ARN to its host directory (from Settings.file_systems),
whether a function may name an access point here (`problem`), and preparing each directory once
at startup: created when missing and owned by the access point's POSIX user (uid/gid given with
the mapping, else the sandbox uid functions run as), so every environment of every function
mapped to it reads and writes the same files. The mount itself is rootfs's (a read-write bind at
LocalMountPath). Imports lamina.config and lamina.engine.rootfs only.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from lamina.config import FileSystem
from lamina.engine import rootfs

log = logging.getLogger("lamina.engine")

NOT_MAPPED = ("The access point {arn} can not be found: lamina serves an EFS access point from a host directory "
              "named with `lamina serve --file-system ARN=PATH` (or $LAMINA_FILE_SYSTEMS).")
CANNOT_MOUNT = ("lamina's {backend} sandbox backend cannot mount file systems (FileSystemConfigs): run lamina as "
                "root (namespaces backend) or with bubblewrap.")
MOUNTING_BACKENDS = ("namespaces", "bubblewrap")


def owner(fs: FileSystem, sandbox_uid: int = rootfs.SANDBOX_UID) -> tuple[int, int]:
    """(uid, gid) the directory belongs to: the access point's POSIX user, else the sandbox uid
    (a gid alone defaults the uid too, and the other way round)."""
    uid = fs.uid if fs.uid is not None else sandbox_uid
    gid = fs.gid if fs.gid is not None else uid
    return uid, gid


def mount_problem(arn: str, mapped: bool, backend: str) -> str | None:
    """Why a function cannot name access point `arn` on this host, or None."""
    if not mapped:
        return NOT_MAPPED.format(arn=arn)
    if backend not in MOUNTING_BACKENDS:
        return CANNOT_MOUNT.format(backend=backend)
    return None


class FileSystems:
    def __init__(self, mapping: dict[str, FileSystem], backend: str) -> None:
        self._mapping = dict(mapping)
        self._backend = backend

    def problem(self, arn: str) -> str | None:
        return mount_problem(arn, arn in self._mapping, self._backend)

    def host_dir(self, arn: str) -> Path | None:
        fs = self._mapping.get(arn)
        return fs.path if fs else None

    def prepare(self) -> None:
        """Create each directory and give it to its owner (as root; otherwise lamina's own user
        owns it, which bubblewrap shows inside as the sandbox uid)."""
        for arn, fs in self._mapping.items():
            fs.path.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                uid, gid = owner(fs)
                st = fs.path.stat()
                if (st.st_uid, st.st_gid) != (uid, gid):
                    os.chown(fs.path, uid, gid)
                    log.info("file system %s: %s now owned by %d:%d", arn, fs.path, uid, gid)
