"""Reading a tar stream from an iterator of byte chunks, without copying file contents: each
member's header (ustar, GNU long names and links, PAX extended headers, local and global) becomes
a `tarfile.TarInfo`, and its data is handed out as memoryview slices of the chunks it arrived in.
GNU sparse files are refused; members of unknown kinds come with their data, for the caller to
leave out. Raises tarfile.TarError on a damaged
stream. Imports nothing from lamina.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator

BLOCK = tarfile.BLOCKSIZE
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"
_META_LIMIT = 1 << 20  # PAX records and GNU long names are small: refuse a huge one


class Reader:
    """Bytes from `chunks` on demand: exact reads for headers, zero-copy slices for data."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buf = b""
        self._view = memoryview(b"")
        self._pos = 0

    def _fill(self) -> bool:
        while True:
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            if chunk:
                self._buf, self._view, self._pos = chunk, memoryview(chunk), 0
                return True

    def exact(self, size: int) -> bytes:
        """`size` bytes (fewer only at the end of the stream)."""
        end = self._pos + size
        if end <= len(self._buf):
            data = self._buf[self._pos:end]
            self._pos = end
            return data
        parts = [self._buf[self._pos:]]
        missing = size - len(parts[0])
        self._pos = len(self._buf)
        while missing > 0 and self._fill():
            part = self._buf[:missing]
            self._pos = len(part)
            missing -= len(part)
            parts.append(part)
        return b"".join(parts)

    def slices(self, size: int) -> Iterator[memoryview]:
        """The next `size` bytes as slices; TarError when the stream ends first."""
        while size > 0:
            if self._pos >= len(self._buf) and not self._fill():
                raise tarfile.ReadError("unexpected end of data")
            take = min(size, len(self._buf) - self._pos)
            yield self._view[self._pos:self._pos + take]
            self._pos += take
            size -= take

    def skip(self, size: int) -> None:
        for _ in self.slices(size):
            pass

    def drain(self) -> int:
        """Read what is left (so a digest over the whole blob is checked); how many bytes."""
        left = len(self._buf) - self._pos
        self._pos = len(self._buf)
        while self._fill():
            left += len(self._buf)
            self._pos = len(self._buf)
        return left


def _padding(size: int) -> int:
    return -size % BLOCK


def _pax(data: bytes) -> dict[str, str]:
    """PAX extended header records: `LENGTH KEY=VALUE\\n` each."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError as exc:
            raise tarfile.InvalidHeaderError("invalid PAX record") from exc
        if length <= 0 or pos + length > len(data) or data[pos + length - 1:pos + length] != b"\n":
            raise tarfile.InvalidHeaderError("invalid PAX record")
        key, _, value = data[space + 1:pos + length - 1].partition(b"=")
        records[key.decode(_ENCODING, _ERRORS)] = value.decode(_ENCODING, _ERRORS)
        pos += length
    return records


def _apply_pax(info: tarfile.TarInfo, records: dict[str, str]) -> None:
    try:
        if "path" in records:
            info.name = records["path"]
            if info.isdir():
                info.name = info.name.rstrip("/")
        if "linkpath" in records:
            info.linkname = records["linkpath"]
        if "size" in records:
            info.size = int(records["size"])
        if "mtime" in records:
            info.mtime = float(records["mtime"])
        if "mode" in records:
            info.mode = int(records["mode"], 8)
    except ValueError as exc:
        raise tarfile.InvalidHeaderError("invalid PAX value") from exc
    if any(key.startswith("GNU.sparse") for key in records):
        raise tarfile.InvalidHeaderError("sparse files are not supported")


_MEMBER_TYPES = {tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE,
                 tarfile.BLKTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE, tarfile.CONTTYPE}


class Body:
    """A member's data: iterate for its slices (what is not read is skipped)."""

    def __init__(self, reader: Reader, size: int) -> None:
        self._reader = reader
        self.left = size

    def __iter__(self) -> Iterator[memoryview]:
        for piece in self._reader.slices(self.left):
            self.left -= len(piece)
            yield piece


def members(reader: Reader) -> Iterator[tuple[tarfile.TarInfo, Body]]:
    """Each member and its data, in turn. Ends at the end-of-archive block; a stream that ends before it is
    damaged (ReadError)."""
    global_pax: dict[str, str] = {}
    local_pax: dict[str, str] = {}
    long_name = long_link = None
    first = True
    while True:
        header = reader.exact(BLOCK)
        if not header and first:
            return  # an empty layer
        if len(header) < BLOCK:
            raise tarfile.ReadError("the archive ends before its end-of-archive block")
        first = False
        try:
            info = tarfile.TarInfo.frombuf(header, _ENCODING, _ERRORS)
        except tarfile.EOFHeaderError:
            return  # the zero block that ends the archive
        if info.size < 0:
            raise tarfile.InvalidHeaderError("negative size")
        kind = info.type
        if kind in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                    tarfile.GNUTYPE_LONGLINK):
            if info.size > _META_LIMIT:
                raise tarfile.InvalidHeaderError("extended header too large")
            data = reader.exact(info.size)
            if len(data) < info.size:
                raise tarfile.ReadError("unexpected end of data")
            reader.skip(_padding(info.size))
            if kind == tarfile.XGLTYPE:
                global_pax.update(_pax(data))
            elif kind == tarfile.GNUTYPE_LONGNAME:
                long_name = data.rstrip(b"\0").decode(_ENCODING, _ERRORS)
            elif kind == tarfile.GNUTYPE_LONGLINK:
                long_link = data.rstrip(b"\0").decode(_ENCODING, _ERRORS)
            else:
                local_pax.update(_pax(data))
            continue
        if kind == tarfile.GNUTYPE_SPARSE:
            raise tarfile.InvalidHeaderError("sparse files are not supported")
        if long_name is not None:
            info.name = long_name.rstrip("/") if info.isdir() else long_name
        if long_link is not None:
            info.linkname = long_link
        if global_pax or local_pax:
            _apply_pax(info, {**global_pax, **local_pax})
        if kind in _MEMBER_TYPES and not info.isreg():
            info.size = 0  # only regular files (and unknown kinds, as tarfile reads them) carry data
        local_pax, long_name, long_link = {}, None, None
        body = Body(reader, info.size)
        yield info, body
        reader.skip(body.left + _padding(info.size))  # what the caller left, and the block padding
