"""A layer as a stream of bytes on its way to the tar reader: the blob's chunks checked against
their digest as they pass, decompressed (gzip, zstd or none) in bounded pieces (a small input
cannot make one huge output), and optionally produced on a thread so the network, the SHA-256 and
the decompressor (all of which release the GIL) work while the unpacking thread writes files.
gzip is inflated by ISA-L's igzip (the `isal` package: about twice zlib's speed) when it can be
imported, else by zlib; both give the same bytes and refuse the same damaged streams
(`DAMAGED` lists their errors). Raises lamina.images.registry.ImageError (InvalidImage).
Imports lamina.images.registry only.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator

from lamina.images.registry import BLOCK, ImageError

try:
    from isal import isal_zlib as _inflate
    from isal.isal_zlib import error as _isal_error
except ImportError:  # zlib does the same, at about half the speed
    _inflate, _isal_error = zlib, zlib.error
DAMAGED = (zlib.error,) if _isal_error is zlib.error else (zlib.error, _isal_error)  # a damaged stream

GZIP, ZSTD, PLAIN = "gzip", "zstd", "tar"
LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": PLAIN,
    "application/vnd.oci.image.layer.v1.tar+gzip": GZIP,
    "application/vnd.oci.image.layer.v1.tar+zstd": ZSTD,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": GZIP,
    "application/vnd.docker.image.rootfs.diff.tar": PLAIN,
}
PIECE = 1 << 20  # the most one step of decompression produces
_ZSTD_READ = 1 << 18


def _bad(message: str) -> ImageError:
    return ImageError("InvalidImage", message)


def verified(chunks: Iterable[bytes], digest: str, what: str,
             progress: Callable[[int], None] = lambda n: None) -> Iterator[bytes]:
    """`chunks`, hashed as they pass; ImageError after the last one when they are not `digest`."""
    hasher = hashlib.sha256()
    for chunk in chunks:
        hasher.update(chunk)
        progress(len(chunk))
        yield chunk
    if "sha256:" + hasher.hexdigest() != digest:
        raise _bad(f"The layer {digest} of {what} does not match its digest.")


def file_chunks(fileobj, size: int = BLOCK) -> Iterator[bytes]:
    while chunk := fileobj.read(size):
        yield chunk


def _gunzip(chunks: Iterable[bytes], engine=None) -> Iterator[bytes]:
    """gzip members one after another (a layer may hold several), each step at most PIECE bytes;
    NUL bytes where a next member would start are padding, whichever chunks they arrive in.
    `engine`: the module with zlib's decompressobj (default: isal's when installed, else zlib)."""
    engine = engine or _inflate
    inflater = engine.decompressobj(31)
    started = ended = False  # the current member has had input; a member has ended
    for chunk in chunks:
        data = chunk.lstrip(b"\0") if ended and not started else chunk
        while data:
            started = True
            out = inflater.decompress(data, PIECE)
            if out:
                yield out
            if inflater.eof:
                # all that follows the member (zlib may also leave a copy in unconsumed_tail)
                data = inflater.unused_data.lstrip(b"\0")
                inflater = engine.decompressobj(31)
                started, ended = False, True
            else:
                data = inflater.unconsumed_tail
    while started and not inflater.eof:  # what the last input left inside the inflater
        out = inflater.decompress(b"", PIECE)
        if not out:
            raise _bad("The compressed layer ends before its end.")
        yield out


class _ChunkFile:
    """read(n) over an iterator of chunks (what zstandard's stream reader pulls from)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._rest = b""
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        if not self._rest:
            self._rest = next(self._chunks, b"")
            self.total += len(self._rest)
        if size < 0 or size >= len(self._rest):
            data, self._rest = self._rest, b""
        else:
            data, self._rest = self._rest[:size], self._rest[size:]
        return data


def _unzstd(chunks: Iterable[bytes]) -> Iterator[bytes]:
    import zstandard  # only images with zstd layers pay for the import

    source = _ChunkFile(chunks)
    reader = zstandard.ZstdDecompressor().stream_reader(source, read_size=_ZSTD_READ, read_across_frames=True)
    produced = 0
    try:
        while out := reader.read(PIECE):
            produced += len(out)
            yield out
    except zstandard.ZstdError as exc:
        raise _bad(f"The zstd layer cannot be decompressed: {exc}") from exc
    if source.total and not produced:
        raise _bad("The zstd layer ends before its first block.")


def decompressed(chunks: Iterable[bytes], codec: str) -> Iterator[bytes]:
    if codec == GZIP:
        return _gunzip(chunks)
    if codec == ZSTD:
        return _unzstd(chunks)
    return iter(chunks)


_END = object()


def ahead(items: Iterator[bytes], depth: int = 16) -> Iterator[bytes]:
    """`items`, produced on a thread up to `depth` ahead of the consumer; its exception is raised
    in the consumer. Closing the consumer's generator stops the thread."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            slots.put((_END, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, daemon=True, name="layer-stream")
    thread.start()
    try:
        while True:
            item = slots.get()
            if type(item) is tuple and item[0] is _END:
                if item[1] is not None:
                    raise item[1]
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                slots.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()
