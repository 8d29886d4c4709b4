"""PostgreSQL briefly unreachable from a front (a TCP proxy between them is cut, then restored): the
front answers a clear 5xx service error meanwhile, never hangs or dies, and serves again by itself."""

from __future__ import annotations

import contextlib
import json
import socket
import threading

import pytest
from botocore.exceptions import ClientError

from cluster_support import PG, Cluster
from support import ROLE, client_for, free_port, make_zip, wait_for

pytest.importorskip("psycopg")

ECHO = "def handler(event, context):\n    return event\n"


class Proxy:
    """A TCP proxy from a loopback port to PostgreSQL that can be cut (every connection closed, new
    ones refused) and restored on the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture(scope="module")
def outage(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("outage"))
    proxy = Proxy(("127.0.0.1", int(PG.rsplit(":", 1)[1])))
    proxy.start()
    try:
        cluster.env["LAMINA_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{proxy.port}/{cluster.database_name}"
        front = cluster.front()
        cluster.worker()
        cluster.wait_workers(front, 1)
        yield cluster, front, proxy
    finally:
        proxy.cut()
        cluster.close()


def test_a_front_cut_from_postgresql_answers_5xx_then_recovers(outage):
    _, front, proxy = outage
    lam = client_for(front.url)
    lam.create_function(FunctionName="through-outage", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})})
    lam.get_waiter("function_active_v2").wait(FunctionName="through-outage")
    assert json.loads(lam.invoke(FunctionName="through-outage", Payload=b'{"n": 1}')["Payload"].read()) == {"n": 1}

    proxy.cut()
    statuses = []

    def answered_5xx() -> bool:
        try:
            lam.list_functions()
        except ClientError as error:
            statuses.append(error.response["ResponseMetadata"]["HTTPStatusCode"])
            return statuses[-1] >= 500 and error.response["Error"]["Code"] == "ServiceException"
        return False

    wait_for(answered_5xx, timeout=60, what="a 5xx while PostgreSQL is unreachable")
    assert front.alive()

    proxy.start()

    def serving() -> bool:
        try:
            out = lam.invoke(FunctionName="through-outage", Payload=b'{"n": 2}')
            return lam.get_function(FunctionName="through-outage") is not None and out["StatusCode"] == 200
        except ClientError:
            return False

    wait_for(serving, timeout=60, what="the front to serve again after PostgreSQL is back")
