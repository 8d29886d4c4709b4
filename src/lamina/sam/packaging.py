"""Reproducible deployment zips and the inputs digest that keys the build cache.

The same tree always gives the same bytes: entries sorted, timestamps fixed at 1980-01-01, file
modes kept (the executable bit matters to a `bootstrap`), fixed compression, no directory entries;
so unchanged code has an unchanged CodeSha256 and a deploy can skip it. Pure apart from reading
the tree it is given. Imports nothing from lamina.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
IGNORED_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".pytest_cache", ".mypy_cache", ".venv",
                          ".aws-sam", ".lamina", "node_modules"})
IGNORED_SUFFIXES = (".pyc", ".pyo")


def files(root: Path, *, keep_node_modules: bool = False) -> Iterator[tuple[str, Path]]:
    """(archive name, path) of every regular file under `root`, sorted, minus caches and VCS data."""
    found: list[tuple[str, Path]] = []
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if d not in IGNORED_DIRS or (keep_node_modules and d == "node_modules")]
        for name in filenames:
            if name.endswith(IGNORED_SUFFIXES):
                continue
            path = Path(directory, name)
            if path.is_file():  # a symlink to a file is stored as the file; dangling links are left out
                found.append((path.relative_to(root).as_posix(), path))
    return iter(sorted(found))


def zip_tree(entries: Iterable[tuple[str, Path]]) -> bytes:
    """The reproducible zip of `entries` (archive name → file)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in entries:
            mode = stat.S_IMODE(path.stat().st_mode)
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = (stat.S_IFREG | (0o755 if mode & 0o111 else 0o644)) << 16
            info.create_system = 3  # unix, so the modes are read back
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=6)
    return buffer.getvalue()


def code_sha256(data: bytes) -> str:
    """Lambda's CodeSha256 of a package: base64 of its SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def inputs_digest(root: Path, *settings: str) -> str:
    """A digest of everything a build reads: the settings given and each file's name, mode and bytes."""
    digest = hashlib.sha256()
    for value in settings:
        digest.update(value.encode() + b"\0")
    for name, path in files(root):
        digest.update(name.encode() + b"\0")
        digest.update(b"x" if os.access(path, os.X_OK) else b"-")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
