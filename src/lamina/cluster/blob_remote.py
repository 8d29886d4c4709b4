"""`BlobRemote`: code and layer zips shared between nodes through a JetStream Object Store bucket
(`Names.blobs_bucket`), objects named by their SHA-256 hex digest.

lamina.store.blobs.BlobStore calls `push` after storing a zip and `pull` when a digest is missing
locally; it calls them from worker threads and sometimes from the event loop, so the remote runs
its own NATS connection on its own thread and event loop, and the sync methods wait for it with a
timeout (BlobRemoteError, a ServiceException, says what failed). Zips stream in chunks from the
file and into a temporary file, so a 250 MB blob is never held in memory; a pulled zip is checked
against its digest before it is renamed into place. Imports lamina.errors and lamina.cluster.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.js.errors import NotFoundError, ObjectNotFoundError

from lamina.cluster.connection import NatsUnreachable, connect
from lamina.cluster.names import Names
from lamina.errors import ServiceException

log = logging.getLogger("lamina.cluster.blobs")

REQUEST_TIMEOUT_S = 10.0  # a metadata question (does the bucket hold a digest, how big is it)
CONNECT_TIMEOUT_S = 5.0  # the first connection (the client keeps reconnecting by itself afterwards)
MIN_TRANSFER_S = 30.0  # a transfer may take this long plus the time its bytes take at TRANSFER_RATE
TRANSFER_RATE = 20 << 20  # bytes per second assumed at worst
CHUNK = 128 << 10  # object store chunk size (well under NATS's default 1 MB max payload)


class BlobRemoteError(ServiceException):
    pass


def transfer_timeout(size: int) -> float:
    """Seconds a push or pull of `size` bytes may take before it counts as failed."""
    return MIN_TRANSFER_S + max(0, size) / TRANSFER_RATE


class BlobRemote:
    """Sync `push(sha_hex, path)` / `pull(sha_hex, dest) -> bool`, safe from any thread."""

    def __init__(self, url: str, names: Names, *, node_id: str = "lamina") -> None:
        self._url = url
        self._names = names
        self._node_id = node_id
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lamina-blob-remote", daemon=True)
        self._nc: Client | None = None
        self._store = None
        self._started = False

    # -- life ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (raises BlobRemoteError when NATS does not answer) and make sure the bucket exists."""
        self._thread.start()
        self._started = True
        self._call(self._open(), REQUEST_TIMEOUT_S, "connect to NATS for code blobs")

    def close(self) -> None:
        if not self._started:
            return
        try:
            self._call(self._close(), REQUEST_TIMEOUT_S, "close the code blob connection", connected=False)
        except BlobRemoteError as exc:
            log.warning("%s", exc.message)
        self._started = False
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=REQUEST_TIMEOUT_S)
        if not self._thread.is_alive():
            self._loop.close()

    async def _open(self) -> None:
        try:
            self._nc = await asyncio.wait_for(connect(self._url, name=f"{self._node_id}-blobs"), CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise BlobRemoteError(f"Could not connect to NATS for code blobs at {self._url}: no answer within "
                                  f"{CONNECT_TIMEOUT_S:.0f} s.") from None
        except NatsUnreachable:
            raise BlobRemoteError(f"Could not connect to NATS for code blobs at {self._url}: no server answers.") \
                from None
        js = self._nc.jetstream()
        try:
            self._store = await js.object_store(self._names.blobs_bucket)
        except NotFoundError:
            self._store = await js.create_object_store(self._names.blobs_bucket)

    async def _close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:  # what a failed connect left behind
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    # -- the BlobStore hook -------------------------------------------------------------------------
    def push(self, sha_hex: str, path: Path) -> None:
        """Store the zip at `path` under its digest unless the bucket holds it already."""
        size = Path(path).stat().st_size
        self._call(self._push(sha_hex, Path(path), size), REQUEST_TIMEOUT_S + transfer_timeout(size),
                   f"store code blob {sha_hex} in the cluster")

    def pull(self, sha_hex: str, dest: Path) -> bool:
        """Fetch the zip of `sha_hex` into `dest` (atomically, digest checked); False if the bucket lacks it."""
        size = self._call(self._size(sha_hex), REQUEST_TIMEOUT_S, f"look up code blob {sha_hex} in the cluster")
        if size is None:
            return False
        return self._call(self._pull(sha_hex, Path(dest)), transfer_timeout(size),
                          f"fetch code blob {sha_hex} from the cluster")

    def remove(self, sha_hex: str) -> None:
        """Delete a digest from the bucket (for tests and cleanup; BlobStore never calls it)."""
        self._call(self._remove(sha_hex), REQUEST_TIMEOUT_S, f"delete code blob {sha_hex} from the cluster")

    # -- on the remote's own loop -------------------------------------------------------------------
    async def _size(self, sha_hex: str) -> int | None:
        try:
            info = await self._store.get_info(sha_hex)
        except (ObjectNotFoundError, NotFoundError):
            return None
        return int(info.size or 0)

    async def _push(self, sha_hex: str, path: Path, size: int) -> None:
        if await self._size(sha_hex) == size:
            return
        from nats.js.api import ObjectMeta, ObjectMetaOptions
        meta = ObjectMeta(name=sha_hex, options=ObjectMetaOptions(max_chunk_size=CHUNK))
        with open(path, "rb") as source:  # put() reads it chunk by chunk in an executor
            await self._store.put(sha_hex, source, meta=meta)

    async def _pull(self, sha_hex: str, dest: Path) -> bool:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".tmp-{sha_hex}-{secrets.token_hex(6)}"
        try:
            with open(tmp, "xb") as out:
                try:
                    await self._store.get(sha_hex, writeinto=out)
                except (ObjectNotFoundError, NotFoundError):
                    return False
                out.flush()
                os.fsync(out.fileno())
            digest = await asyncio.get_running_loop().run_in_executor(None, _sha256_file, tmp)
            if digest != sha_hex:
                raise BlobRemoteError(f"code blob {sha_hex} fetched from the cluster has digest {digest}")
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return True

    async def _remove(self, sha_hex: str) -> None:
        try:
            await self._store.delete(sha_hex)
        except (ObjectNotFoundError, NotFoundError):
            pass

    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float, what: str, *, connected: bool = True) -> Any:
        if not self._started:
            coro.close()
            raise BlobRemoteError(f"Could not {what}: the code blob remote is not started.")
        if connected and self._nc is not None and not self._nc.is_connected:
            coro.close()  # fail now rather than leave half an object in the client's reconnect buffer
            raise BlobRemoteError(f"Could not {what}: NATS is unreachable.")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise BlobRemoteError(f"Could not {what}: NATS did not answer within {timeout:.0f} s.") from None
        except BlobRemoteError:
            raise
        except Exception as exc:
            raise BlobRemoteError(f"Could not {what}: {type(exc).__name__}: {exc}") from exc


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
