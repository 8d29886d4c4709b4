"""Content-addressed code blobs: zips stored by SHA-256, unpacked once per digest into a read-only cache.

Owns the layout under `<data_dir>/blobs`: `zips/<hex[:2]>/<hex>.zip` and `unpacked/<hex>/`. Writes and
unpacks are atomic (temporary name, then rename), so concurrent callers and crashes never see a partial
zip or tree; a finished tree is flushed with os.sync() before it is renamed into place. From lamina it
imports only `lamina.errors` and its sibling `lamina.store.archive` (never the engine, control or API).

In cluster mode a `remote` (lamina.cluster.blob_remote, anything with sync `push(sha_hex, path)` and
`pull(sha_hex, dest) -> bool`) shares the zips between nodes: `put` pushes, and a digest missing
locally is pulled once by `path`/`read`/`exists`/`unpacked`, then served from disk. `delete` is local
only (another node may be storing the same digest at that moment).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import stat
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from lamina.errors import InvalidParameterValueException
from lamina.store import archive

CHUNK = 1 << 20
STALE_SECONDS = 3600
_HEX = re.compile(r"[0-9a-f]{64}")
_STRIPES = 64
T = TypeVar("T")


class Remote(Protocol):
    def push(self, sha_hex: str, path: Path) -> None: ...

    def pull(self, sha_hex: str, dest: Path) -> bool: ...


@dataclass(frozen=True)
class Blob:
    """A stored zip: `sha256_b64` is Lambda's CodeSha256 (base64 of the raw digest), `size` its CodeSize."""

    sha256_b64: str
    sha256_hex: str
    size: int


class BlobStore:
    """Zips keyed by digest, and their extracted trees; safe to share between threads."""

    def __init__(self, root: Path, *, max_unzipped: int = archive.MAX_UNZIPPED, remote: Remote | None = None) -> None:
        self.root = Path(root)
        self.max_unzipped = max_unzipped
        self.remote = remote
        self._zips = self.root / "zips"
        self._unpacked = self.root / "unpacked"
        self._zips.mkdir(parents=True, exist_ok=True)
        self._unpacked.mkdir(parents=True, exist_ok=True)
        self._locks = [threading.Lock() for _ in range(_STRIPES)]
        self._sweep()

    def put(self, data: bytes) -> Blob:
        """Store `data` (idempotent); the file is fsynced and renamed into place."""
        digest = hashlib.sha256(data).digest()
        blob = Blob(base64.b64encode(digest).decode("ascii"), digest.hex(), len(data))
        final = self._zip(blob.sha256_hex)
        if _size(final) != blob.size:
            self._write(final, blob, data)
        if self.remote is not None:
            self.remote.push(blob.sha256_hex, final)
        return blob

    def _write(self, final: Path, blob: Blob, data: bytes) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".tmp-{blob.sha256_hex}-{secrets.token_hex(6)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(final.parent)

    def path(self, sha256_hex: str) -> Path:
        """Where the zip of a digest is (whether or not it exists; fetched from the remote if it has it)."""
        final = self._zip(sha256_hex)
        if self.remote is not None and not final.is_file():
            with self._lock(sha256_hex):
                if not final.is_file() and self.remote.pull(sha256_hex, final):
                    _fsync_dir(final.parent)
        return final

    def _zip(self, sha256_hex: str) -> Path:
        _checked(sha256_hex)
        return self._zips / sha256_hex[:2] / f"{sha256_hex}.zip"

    def read(self, sha256_hex: str) -> bytes:
        return self.path(sha256_hex).read_bytes()

    def exists(self, sha256_hex: str) -> bool:
        return self.path(sha256_hex).is_file()

    def unpacked(self, sha256_hex: str) -> Path:
        """The read-only directory holding the zip's files, extracted on first use only.

        Raises FileNotFoundError if the zip is not stored, InvalidParameterValueException if it
        breaks the rules of `archive` (checked again here, counting the bytes actually written).
        """
        dest = self._unpacked / _checked(sha256_hex)
        if dest.is_dir():
            return dest
        source = self.path(sha256_hex)
        if not source.is_file():
            raise FileNotFoundError(f"no code blob {sha256_hex}")
        with self._lock(sha256_hex):
            if dest.is_dir():
                return dest
            tmp = self._unpacked / f".tmp-{sha256_hex}-{secrets.token_hex(6)}"
            tmp.mkdir(mode=0o700)
            try:
                self._extract(source, tmp)
                os.sync()
                try:
                    os.rename(tmp, dest)
                except OSError:
                    if not dest.is_dir():
                        raise
                    _rmtree(tmp)  # another process finished first
            except BaseException:
                _rmtree(tmp)
                raise
            _fsync_dir(self._unpacked)
        return dest

    def delete(self, sha256_hex: str) -> None:
        """Remove the zip and its unpacked tree; missing pieces are fine."""
        dest = self._unpacked / _checked(sha256_hex)
        with self._lock(sha256_hex):
            self._zip(sha256_hex).unlink(missing_ok=True)
            doomed = self._unpacked / f".del-{sha256_hex}-{secrets.token_hex(6)}"
            try:
                os.rename(dest, doomed)
            except FileNotFoundError:
                return
        _rmtree(doomed)

    def total_size(self) -> int:
        """Bytes of stored zips (what counts against the code storage quota)."""
        return sum(_size(p) for p in self._zips.glob("*/*.zip"))

    def _lock(self, sha256_hex: str) -> threading.Lock:
        return self._locks[int(sha256_hex[:2], 16) % _STRIPES]

    def _extract(self, source: Path, dest: Path) -> None:
        size = source.stat().st_size
        try:
            zf = zipfile.ZipFile(source)
        except archive.BAD_ZIP_ERRORS as exc:
            raise InvalidParameterValueException(archive.UNZIP_ERROR) from exc
        with zf:
            _, entries = archive.scan(zf, archive_size=size, max_unzipped=self.max_unzipped)
            written = 0
            for entry in entries:
                target = dest.joinpath(*entry.path.split("/"))
                if entry.kind == archive.DIR:
                    target.mkdir(mode=0o700, parents=True, exist_ok=True)
                elif entry.kind == archive.FILE:
                    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    written = self._copy(zf, entry, target, written)
            for entry in entries:
                if entry.kind == archive.SYMLINK:
                    target = dest.joinpath(*entry.path.split("/"))
                    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    os.symlink(entry.target, target)
        for top, dirnames, _ in os.walk(dest, topdown=False):
            for name in dirnames:
                path = os.path.join(top, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o555)
        os.chmod(dest, 0o555)

    def _copy(self, zf: zipfile.ZipFile, entry: archive.Entry, target: Path, written: int) -> int:
        """Stream one member to disk, counting real bytes: declared sizes may lie."""
        declared = entry.member.file_size
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out, _reading(zf.open, entry.member) as src:
            count = 0
            while chunk := _reading(src.read, CHUNK):
                count += len(chunk)
                if count > declared:
                    raise archive.invalid(f"entry {entry.member.filename!r} is larger than it declares.")
                if written + count >= self.max_unzipped:
                    raise archive.too_big(self.max_unzipped)
                out.write(chunk)
            if count != declared:
                raise archive.invalid(f"entry {entry.member.filename!r} is shorter than it declares.")
            os.fchmod(out.fileno(), 0o555 if entry.executable else 0o444)
        return written + count

    def _sweep(self) -> None:
        """Remove leftovers of crashed writes and unpacks (only old ones: another process may be working)."""
        cutoff = time.time() - STALE_SECONDS
        leftovers = [
            *self._unpacked.glob(".tmp-*"),
            *self._unpacked.glob(".del-*"),
            *self._zips.glob("*/.tmp-*"),
        ]
        for path in leftovers:
            try:
                if path.lstat().st_mtime >= cutoff:
                    continue
            except FileNotFoundError:
                continue
            if path.is_dir() and not path.is_symlink():
                _rmtree(path)
            else:
                path.unlink(missing_ok=True)


def _reading(call: Callable[..., T], *args: object) -> T:
    """Run a read from the archive, turning decoding failures (bad CRC, corrupt stream) into AWS's error."""
    try:
        return call(*args)
    except archive.BAD_ZIP_ERRORS as exc:
        raise InvalidParameterValueException(archive.UNZIP_ERROR) from exc


def _checked(sha256_hex: str) -> str:
    if not _HEX.fullmatch(sha256_hex):
        raise ValueError(f"not a lowercase hex SHA-256 digest: {sha256_hex!r}")
    return sha256_hex


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rmtree(path: Path) -> None:
    """Delete a read-only tree: give directories back their write bit first, never following links."""
    if not path.exists() and not path.is_symlink():
        return
    for top, dirnames, _ in os.walk(path):
        for name in [".", *dirnames]:
            sub = os.path.join(top, name)
            try:
                if stat.S_ISDIR(os.lstat(sub).st_mode):
                    os.chmod(sub, 0o700)
            except FileNotFoundError:
                continue
    shutil.rmtree(path, ignore_errors=True)
