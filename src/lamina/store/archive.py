"""Deployment zip checks: what a code or layer archive must satisfy before it is accepted.

Owns the limits (zipped/unzipped size, entry count, compression ratio) and the entry rules
(no traversal, no absolute paths, no links out of the tree, no colliding names). Pure
functions over bytes or an open `zipfile.ZipFile`; the unpacker in `blobs` reuses `scan`.
Imports only `lamina.errors` from lamina.
"""

from __future__ import annotations

import io
import lzma
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass

from lamina.errors import InvalidParameterValueException, RequestEntityTooLargeException

MAX_ZIPPED = 52_428_800
MAX_UNZIPPED = 262_144_000
MAX_ENTRIES = 100_000
MAX_RATIO = 1000
RATIO_MIN_SIZE = 1_048_576
MAX_LINK_TARGET = 4095
MAX_PATH = 4096
MAX_NAME = 255

UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."
SUPPORTED_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
# What zipfile and the decompressors raise on malformed or hostile input.
BAD_ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    lzma.LZMAError,
    struct.error,
    EOFError,
    OSError,
    ValueError,
    LookupError,
    RuntimeError,
)

DIR, FILE, SYMLINK = "dir", "file", "symlink"


@dataclass(frozen=True)
class ZipInfo:
    """What an accepted archive unpacks to: declared bytes (files + link targets) and non-directory entries."""

    unzipped_size: int
    file_count: int


@dataclass(frozen=True)
class Entry:
    """One accepted member: its normalised relative path ('a/b.py'), kind and how to recreate it."""

    member: zipfile.ZipInfo
    path: str
    kind: str
    executable: bool = False
    target: str = ""


def invalid(reason: str) -> InvalidParameterValueException:
    """An InvalidParameterValueException for a rejected archive, saying what was wrong."""
    return InvalidParameterValueException(f"Could not unzip uploaded file: {reason}")


def too_big(max_unzipped: int) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"Unzipped size must be smaller than {max_unzipped} bytes")


def check_zipped_size(n: int) -> None:
    """A directly uploaded zip must be at most 50 MB (413, AWS's text)."""
    if n > MAX_ZIPPED:
        raise RequestEntityTooLargeException(f"Zipped size must be smaller than {MAX_ZIPPED} bytes")


def check_zip(
    data: bytes,
    *,
    max_unzipped: int = MAX_UNZIPPED,
    extra_unzipped: int = 0,
    max_entries: int = MAX_ENTRIES,
) -> ZipInfo:
    """Check a deployment zip; `extra_unzipped` adds e.g. the layers' unzipped size to the total."""
    if not data:
        raise InvalidParameterValueException(UNZIP_ERROR)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except BAD_ZIP_ERRORS as exc:
        raise InvalidParameterValueException(UNZIP_ERROR) from exc
    with zf:
        info, _ = scan(
            zf,
            archive_size=len(data),
            max_unzipped=max_unzipped,
            extra_unzipped=extra_unzipped,
            max_entries=max_entries,
        )
    return info


def scan(
    zf: zipfile.ZipFile,
    *,
    archive_size: int,
    max_unzipped: int = MAX_UNZIPPED,
    extra_unzipped: int = 0,
    max_entries: int = MAX_ENTRIES,
) -> tuple[ZipInfo, list[Entry]]:
    """Validate every member of an open zip; return the totals and the entries to create, in order."""
    members = zf.infolist()
    if len(members) > max_entries:
        raise invalid(f"the archive has {len(members)} entries; at most {max_entries} are allowed.")
    entries: list[Entry] = []
    kinds: dict[str, str] = {}
    total = 0
    for member in members:
        entry = _classify(member)
        if entry is None:
            continue
        _claim(kinds, entry)
        if entry.kind != DIR:
            total += member.file_size
            _check_ratio(member)
        entries.append(entry)
    if total + extra_unzipped >= max_unzipped:
        raise too_big(max_unzipped)
    if total > RATIO_MIN_SIZE and total > MAX_RATIO * max(archive_size, 1):
        raise invalid(
            f"the archive would unpack to {total} bytes from {archive_size}, "
            f"a compression ratio above {MAX_RATIO}:1."
        )
    resolved = [_with_target(zf, entry, kinds) if entry.kind == SYMLINK else entry for entry in entries]
    files = sum(1 for entry in resolved if entry.kind != DIR)
    return ZipInfo(unzipped_size=total, file_count=files), resolved


def _classify(member: zipfile.ZipInfo) -> Entry | None:
    raw = member.filename
    if "\x00" in raw:
        raise invalid(f"entry {raw!r} has a NUL character in its name.")
    if member.flag_bits & 0x1:
        raise invalid(f"entry {raw!r} is encrypted.")
    if member.compress_type not in SUPPORTED_METHODS:
        raise invalid(f"entry {raw!r} uses an unsupported compression method ({member.compress_type}).")
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) >= 2 and name[1] == ":" and name[0].isalpha()):
        raise invalid(f"entry {raw!r} is an absolute path.")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise invalid(f"entry {raw!r} leaves the package directory.")
    path = "/".join(parts)
    if len(path.encode()) > MAX_PATH or any(len(part.encode()) > MAX_NAME for part in parts):
        raise invalid(f"entry {raw!r} has a name that is too long.")
    mode = member.external_attr >> 16
    kind_bits = stat.S_IFMT(mode)
    if name.endswith("/") or kind_bits == stat.S_IFDIR:
        kind = DIR
    elif kind_bits == stat.S_IFLNK:
        kind = SYMLINK
    elif kind_bits in (0, stat.S_IFREG):
        kind = FILE
    else:
        raise invalid(f"entry {raw!r} is not a file, directory or symbolic link.")
    if not path:
        if kind == DIR:
            return None
        raise invalid(f"entry {raw!r} has an empty name.")
    return Entry(member=member, path=path, kind=kind, executable=kind == FILE and bool(mode & 0o111))


def _claim(kinds: dict[str, str], entry: Entry) -> None:
    """Record a path; a name may appear twice only as a directory, and nothing may sit under a file or link."""
    parts = entry.path.split("/")
    for i in range(1, len(parts)):
        parent = "/".join(parts[:i])
        existing = kinds.setdefault(parent, DIR)
        if existing != DIR:
            raise invalid(f"entry {entry.member.filename!r} collides with the {existing} {parent!r}.")
    existing = kinds.get(entry.path)
    if existing is not None and not (existing == DIR and entry.kind == DIR):
        raise invalid(f"entry {entry.member.filename!r} collides with another entry named {entry.path!r}.")
    kinds[entry.path] = entry.kind


def _check_ratio(member: zipfile.ZipInfo) -> None:
    size, packed = member.file_size, member.compress_size
    if size > RATIO_MIN_SIZE and size > MAX_RATIO * max(packed, 1):
        raise invalid(
            f"entry {member.filename!r} unpacks to {size} bytes from {packed}, "
            f"a compression ratio above {MAX_RATIO}:1."
        )


def _with_target(zf: zipfile.ZipFile, entry: Entry, kinds: dict[str, str]) -> Entry:
    """Read a link's target and accept it only if it resolves inside the tree without following other links."""
    raw = entry.member.filename
    if entry.member.file_size > MAX_LINK_TARGET:
        raise invalid(f"symbolic link {raw!r} has a target longer than {MAX_LINK_TARGET} bytes.")
    try:
        data = zf.read(entry.member)
        target = data.decode()
    except UnicodeDecodeError as exc:
        raise invalid(f"symbolic link {raw!r} has a target that is not UTF-8.") from exc
    except BAD_ZIP_ERRORS as exc:
        raise InvalidParameterValueException(UNZIP_ERROR) from exc
    if not target or "\x00" in target or len(data) > MAX_LINK_TARGET:
        raise invalid(f"symbolic link {raw!r} has an invalid target.")
    target = target.replace("\\", "/")
    if target.startswith("/") or (len(target) >= 2 and target[1] == ":" and target[0].isalpha()):
        raise invalid(f"symbolic link {raw!r} points to an absolute path ({target!r}).")
    where = entry.path.split("/")[:-1]
    steps = [part for part in target.split("/") if part not in ("", ".")]
    for i, part in enumerate(steps):
        if part == "..":
            if not where:
                raise invalid(f"symbolic link {raw!r} points outside the package directory ({target!r}).")
            where.pop()
            continue
        where.append(part)
        if i < len(steps) - 1 and kinds.get("/".join(where)) == SYMLINK:
            raise invalid(f"symbolic link {raw!r} points through another symbolic link ({target!r}).")
    return Entry(member=entry.member, path=entry.path, kind=SYMLINK, target=target)
