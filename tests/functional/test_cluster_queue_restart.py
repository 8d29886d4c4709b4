"""The async queue across a NATS outage, on a private nats-server this test starts and kills:
an enqueue during the outage fails at once with a clear ServiceException and is never stored later, and
once NATS is back the same queue object, reconnected by itself, hands out what was accepted before
the crash. The blob remote likewise fails clearly and serves again once reconnected."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time

import pytest

from lamina.cluster.connection import connect
from lamina.cluster.jetstream_queue import JetStreamQueue
from lamina.cluster.names import Names
from lamina.errors import ServiceException
from support import free_port

NATS_SERVER = "/usr/sbin/nats-server"
PATIENCE = 30.0

pytestmark = pytest.mark.skipif(not os.access(NATS_SERVER, os.X_OK), reason="nats-server is not installed")


class PrivateNats:
    def __init__(self, store):
        self.port = free_port()
        self.store = store
        self.process = None

    def start(self):
        self.process = subprocess.Popen([NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd",
                                         str(self.store)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                assert time.monotonic() < deadline and self.process.poll() is None, "nats-server did not start"
                time.sleep(0.05)

    def kill(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()


def test_the_queue_fails_clearly_while_nats_is_down_and_recovers_what_it_accepted(tmp_path):
    server = PrivateNats(tmp_path / "js").start()
    url = f"nats://127.0.0.1:{server.port}"
    names = Names("tjsrestart")

    async def main():
        nc = await connect(url, name="front")
        queue = JetStreamQueue(nc, names, lease_s=30)
        await queue.start()
        try:
            await queue.enqueue(request_id="before-crash", function_name="f", qualifier=None, payload=b"kept")
            await asyncio.to_thread(server.kill)
            deadline = time.monotonic() + PATIENCE
            while nc.is_connected and time.monotonic() < deadline:  # the client notices the crash
                await asyncio.sleep(0.01)
            with pytest.raises(ServiceException) as caught:
                await queue.enqueue(request_id="during-outage", function_name="f", qualifier=None, payload=b"x")
            assert caught.value.message == ("The event could not be stored in the cluster's queue: "
                                            "NATS is unreachable.")
            assert await queue.claim(10, 30) == []  # no NATS, nothing to hand out, no exception
            await asyncio.to_thread(server.start)
            got = []
            deadline = time.monotonic() + PATIENCE
            while not got and time.monotonic() < deadline:
                got = await queue.claim(10, 30)
                if not got:
                    await queue.wait_due(0.5)
            assert [(e.request_id, e.payload) for e in got] == [("before-crash", b"kept")]
            await queue.ack(got[0].id)
            await queue.enqueue(request_id="after", function_name="f", qualifier=None, payload=b"y")
            await queue.refresh()
            assert queue.depth() == 1
        finally:
            await queue.close()
            await nc.close()

    try:
        asyncio.run(main())
    finally:
        server.kill()


def test_the_blob_remote_fails_clearly_while_nats_is_down_and_recovers(tmp_path):
    from lamina.cluster.blob_remote import BlobRemote, BlobRemoteError
    from lamina.store.blobs import BlobStore

    server = PrivateNats(tmp_path / "js").start()
    remote = BlobRemote(f"nats://127.0.0.1:{server.port}", Names("tjsrestartblobs"))
    remote.start()
    try:
        front = BlobStore(tmp_path / "front", remote=remote)
        before = front.put(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip
        server.kill()
        deadline = time.monotonic() + PATIENCE
        while remote._nc.is_connected and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(BlobRemoteError) as caught:
            front.put(b"PK\x05\x06" + b"\x00" * 17 + b"\x01")
        assert caught.value.message.endswith("NATS is unreachable.")
        server.start()
        worker = BlobStore(tmp_path / "worker", remote=remote)
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                assert worker.exists(before.sha256_hex)
                break
            except BlobRemoteError:  # until the client has reconnected
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        remote.close()
        server.kill()
