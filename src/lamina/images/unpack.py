"""Applying image layers to a root file system, safely: nothing in a layer is executed, no path
lands outside the root (`..` components are refused, symlinks met on the way are resolved inside
the root as a chroot would), hard links must name a file already in the root, device nodes are
refused, setuid/setgid bits are dropped, and the uncompressed total is capped (10 GB, AWS's limit).
OCI whiteouts apply: `.wh.NAME` removes NAME from lower layers, `.wh..wh..opq` empties its
directory of what lower layers put there. Layers are gzip, zstd or plain tar, read as a stream
(lamina.images.layerstream, lamina.images.tarstream): file data goes from the decompressor's
buffers straight to the new files. Raises lamina.images.registry.ImageError (InvalidImage).
Imports lamina.images.registry, .layerstream and .tarstream.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Iterable
from pathlib import Path

from lamina.images import layerstream, tarstream
from lamina.images.registry import ImageError

MAX_UNPACKED = 10 * 1024 ** 3  # 10 GB
LAYER_TYPES = layerstream.LAYER_TYPES
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_HOPS = 40
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


def _bad(message: str) -> ImageError:
    return ImageError("InvalidImage", message)


def member_path(name: str) -> list[str]:
    """The components of a member's name, relative to the root; ImageError on `..` (traversal)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise _bad(f"The layer has a path that leaves the image's root: {name}")
    return parts


def resolve(root: str, parts: list[str], known: set[str] | None = None) -> str:
    """The host path of `parts` inside `root` with every symlink among the parents resolved inside
    the root (absolute targets re-rooted, `..` stopping at the root); the last part is not followed."""
    done: list[str] = []
    pending = list(parts[:-1])
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        if known is not None and candidate in known:  # a real directory already checked in this layer
            done.append(part)
            continue
        if os.path.islink(candidate):
            hops += 1
            if hops > _HOPS:
                raise _bad(f"Too many symbolic links under {'/'.join(parts)}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            pending = [p for p in target.split("/") if p] + pending
            continue
        if known is not None and os.path.isdir(candidate):
            known.add(candidate)
        done.append(part)
    return os.path.join(root, *done, *parts[-1:])


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def apply_layer(fileobj, media_type: str, root: str, budget: list[int], uri: str = "") -> None:
    """Apply one layer (`fileobj`, a tar stream of `media_type`) onto `root`; `budget[0]` is the
    number of uncompressed bytes still allowed and is decreased."""
    apply_chunks(layerstream.file_chunks(fileobj), media_type, root, budget, uri)


def apply_chunks(chunks: Iterable[bytes], media_type: str, root: str, budget: list[int], uri: str = "",
                 *, threaded: bool = False) -> None:
    """Apply one layer arriving as compressed `chunks` (a blob download, checked on the way by
    the caller's iterator) onto `root`. `threaded`: decompress on a second thread. The chunks are
    read to their end even after the archive's end, so a digest check over them runs."""
    codec = layerstream.LAYER_TYPES.get(media_type)
    if codec is None:
        raise ImageError("InvalidImage", f"The image manifest, config or layer media type for the source image "
                                         f"{uri} is not supported.")
    stream = layerstream.decompressed(chunks, codec)
    if threaded:
        stream = layerstream.ahead(stream)
    created: set[str] = set()
    known: set[str] = set()
    try:
        reader = tarstream.Reader(stream)
        for member, body in tarstream.members(reader):
            _apply(member, body, root, created, budget, known)
        reader.drain()
    except (tarfile.TarError, EOFError, OSError, UnicodeError, *layerstream.DAMAGED) as exc:
        raise _bad(f"A layer of {uri} cannot be unpacked: {exc}") from exc
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def _open_new(target: str, perms: int) -> int:
    try:
        return os.open(target, _CREATE, perms)
    except FileExistsError:
        _remove(target)
        return os.open(target, _CREATE, perms)


def _write_file(target: str, body: Iterable[memoryview], perms: int, mtime: float) -> None:
    fd = _open_new(target, perms)
    try:
        for piece in body:
            while piece:
                piece = piece[os.write(fd, piece):]
        if perms & 0o022:  # what the umask took away
            os.fchmod(fd, perms)
        os.utime(fd, (mtime, mtime))  # the layer's times: byte-code caches check their source's
    finally:
        os.close(fd)


def _forget(known: set[str], path: str) -> None:
    """`path` is being removed or replaced: it and what is under it must be checked again."""
    prefix = path + "/"
    known.difference_update([d for d in known if d == path or d.startswith(prefix)])


def _apply(member: tarfile.TarInfo, body: Iterable[memoryview], root: str, created: set[str], budget: list[int],
           known: set[str]) -> None:
    parts = member_path(member.name)
    if not parts:
        return
    budget[0] -= max(member.size, 0)
    if budget[0] < 0:
        raise _bad("The image is larger than 10 GB uncompressed.")
    base = parts[-1]
    parent_parts = parts[:-1]
    if base == OPAQUE:
        directory = resolve(root, [*parent_parts, "x"], known)[:-2] if parent_parts else root
        if os.path.isdir(directory):
            for entry in os.listdir(directory):
                full = os.path.join(directory, entry)
                if full not in created:
                    _forget(known, full)
                    _remove(full)
        return
    if base.startswith(WHITEOUT):
        gone = resolve(root, [*parent_parts, base[len(WHITEOUT):]], known)
        _forget(known, gone)
        _remove(gone)
        return
    target = resolve(root, parts, known)
    if not member.isdir() and not member.isreg():
        _forget(known, target)
    parent = os.path.dirname(target)
    if parent not in created and not os.path.isdir(parent):
        os.makedirs(parent, mode=0o755, exist_ok=True)
    perms = member.mode & 0o1777  # no setuid / setgid
    if member.isdir():
        if os.path.lexists(target) and not (os.path.isdir(target) and not os.path.islink(target)):
            _forget(known, target)
            _remove(target)
        os.makedirs(target, exist_ok=True)
        os.chmod(target, perms | 0o700 if perms else 0o755)
    elif member.isreg():
        _write_file(target, body, perms, member.mtime)
    elif member.issym():
        link = member.linkname
        if not link.startswith("/") and posixpath.normpath(posixpath.join(*parent_parts, link) if parent_parts
                                                           else link).startswith(".."):
            raise _bad(f"The layer has a link that leaves the image's root: {member.name} -> {link}")
        _remove(target)
        os.symlink(link, target)
    elif member.islnk():
        source_path = resolve(root, member_path(member.linkname), known)
        if not os.path.isfile(source_path) or os.path.islink(source_path):
            raise _bad(f"The layer has a hard link to a file outside the image: {member.name} -> {member.linkname}")
        _remove(target)
        os.link(source_path, target)
    elif member.ischr() or member.isblk():
        raise _bad(f"The layer has a device node, which Lambda does not allow: {member.name}")
    else:
        return  # FIFOs and other special files are left out
    created.add(target)


MOUNT_POINTS = ("tmp", "proc", "dev", "mnt", ".lamina/usr", ".lamina/lang", ".lamina/runtime")


def add_mount_points(root: str) -> None:
    """The directories lamina mounts over in a read-only image root (an image's own /tmp, /proc or
    /dev is replaced, as on Lambda)."""
    for name in MOUNT_POINTS:
        path = os.path.join(root, name)
        if os.path.lexists(path) and not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
        os.makedirs(path, mode=0o755, exist_ok=True)
    os.chmod(root, 0o755)


# The names every environment resolves to its loopback, as on Lambda (extensions listen on them):
# lamina.engine.hosts shows them to zip functions at /etc/hosts, `add_host_names` adds them to an image's.
LOOPBACK = "127.0.0.1"
HOST_NAMES = ("localhost", "localhost.localdomain", "sandbox", "sandbox.localdomain")


def with_names(text: str) -> str:
    """A hosts file's `text` with a line for those of HOST_NAMES it does not map to LOOPBACK
    (unchanged when it maps them all)."""
    known: set[str] = set()
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0] == LOOPBACK:
            known.update(fields[1:])
    missing = [name for name in HOST_NAMES if name not in known]
    if not missing:
        return text
    if text and not text.endswith("\n"):
        text += "\n"
    return text + f"{LOOPBACK}\t{' '.join(missing)}\n"


def add_host_names(root: str) -> None:
    """The image's own /etc/hosts kept (Lambda does not replace it), with the environment's names
    added once here, at unpack, rather than bound over it at each start; written when the image
    has none (its resolver would not find them otherwise). A symlinked /etc or /etc/hosts is left
    as it is: nothing is written outside the root."""
    etc = os.path.join(root, "etc")
    hosts = os.path.join(etc, "hosts")
    if os.path.islink(etc) or (os.path.lexists(etc) and not os.path.isdir(etc)):
        return
    text = ""
    if os.path.lexists(hosts):
        if not stat.S_ISREG(os.lstat(hosts).st_mode):
            return
        with open(hosts, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    updated = with_names(text)
    if updated == text:
        return
    os.makedirs(etc, mode=0o755, exist_ok=True)
    partial = os.path.join(etc, ".hosts.lamina")
    with open(partial, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(updated)
    os.chmod(partial, 0o644)
    os.replace(partial, hosts)  # a new file: another hard link to the old one keeps its text


def unpack(layers: list[tuple[Path, str]], root: str, uri: str = "") -> None:
    """Apply (blob path, media type) layers in order onto the empty directory `root`."""
    budget = [MAX_UNPACKED]
    for path, media_type in layers:
        with open(path, "rb") as blob:
            apply_layer(blob, media_type, root, budget, uri)
    add_mount_points(root)
    add_host_names(root)
