"""Files in the data dir only their owner may read (mode 0600 from the moment they exist): the master
key that seals temporary credentials and the administrator's access key.

Imports nothing from lamina.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write(path: Path, data: bytes) -> None:
    """Create `path` (owner read/write only) holding `data`; FileExistsError when it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def restrict(path: Path) -> None:
    """Make an existing (or future: created empty now) file owner-readable only; SQLite gives its
    -wal and -shm files the database file's mode."""
    path.touch(mode=0o600, exist_ok=True)
    os.chmod(path, 0o600)
    for suffix in ("-wal", "-shm"):
        sibling = path.with_name(path.name + suffix)
        if sibling.exists():
            os.chmod(sibling, 0o600)


def master_key(path: Path) -> bytes:
    """The 32-byte master key kept at `path`, made on first use."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    try:
        write(path, secrets.token_bytes(32))
    except FileExistsError:  # another process made it first
        pass
    return path.read_bytes()
