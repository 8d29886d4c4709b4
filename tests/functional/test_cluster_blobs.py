"""Code blobs shared through the cluster's JetStream Object Store: a zip put on node A's BlobStore
is unpacked by node B's from an empty data dir, from the event loop's thread as well as others."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import secrets
import zipfile

import pytest
from nats.js.errors import NotFoundError

from lamina.cluster.blob_remote import BlobRemote, BlobRemoteError
from lamina.cluster.names import Names
from lamina.store.blobs import BlobStore

NATS_URL = "nats://127.0.0.1:4222"


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def names():
    names = Names(f"tjs{secrets.token_hex(4)}")
    yield names

    async def drop():
        from lamina.cluster.connection import connect
        nc = await connect(NATS_URL, name="cleanup")
        try:
            await nc.jetstream().delete_object_store(names.blobs_bucket)
        except NotFoundError:
            pass
        finally:
            await nc.close()

    asyncio.run(drop())


@pytest.fixture
def remotes(names):
    started = []

    def make(node):
        remote = BlobRemote(NATS_URL, names, node_id=node)
        remote.start()
        started.append(remote)
        return remote

    yield make
    for remote in started:
        remote.close()


def test_a_zip_put_on_one_node_is_unpacked_on_another_from_an_empty_dir(tmp_path, remotes):
    front = BlobStore(tmp_path / "a", remote=remotes("a"))
    # bigger than one object store chunk, so it travels in several
    big = os.urandom(600_000)
    code = _zip({"app.py": b"def handler(e, c):\n    return 'hi'\n", "data.bin": big})
    blob = front.put(code)
    worker = BlobStore(tmp_path / "b", remote=remotes("b"))
    assert not any((tmp_path / "b" / "zips").iterdir())
    tree = worker.unpacked(blob.sha256_hex)
    assert (tree / "app.py").read_bytes() == b"def handler(e, c):\n    return 'hi'\n"
    assert (tree / "data.bin").read_bytes() == big
    assert worker.read(blob.sha256_hex) == code
    assert not list((tmp_path / "b" / "zips").glob("*/.tmp-*"))


def test_the_event_loop_thread_may_ask_and_missing_digests_are_missing(tmp_path, remotes):
    remote = remotes("c")
    front = BlobStore(tmp_path / "a", remote=remote)
    blob = front.put(_zip({"x.py": b"X = 1\n"}))
    front.put(_zip({"x.py": b"X = 1\n"}))  # idempotent: already in the bucket
    worker = BlobStore(tmp_path / "b", remote=remote)
    missing = hashlib.sha256(b"nobody stored this").hexdigest()

    async def on_the_loop():
        return worker.exists(blob.sha256_hex), worker.exists(missing)

    assert asyncio.run(on_the_loop()) == (True, False)
    remote.remove(blob.sha256_hex)
    assert not BlobStore(tmp_path / "c", remote=remote).exists(blob.sha256_hex)


def test_an_unreachable_nats_is_a_clear_service_error(names):
    remote = BlobRemote("nats://127.0.0.1:1", names)
    with pytest.raises(BlobRemoteError) as caught:
        remote.start()
    assert "Could not connect to NATS for code blobs" in caught.value.message
    remote.close()
