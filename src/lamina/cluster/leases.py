"""Singleton leases: which node of a cluster runs a one-per-cluster job (the event-source pollers,
the EventBridge schedule clock, log retention expiry, EventBridge delivery retries).

A lease is a PostgreSQL *session* advisory lock held on a connection of its own, owned by a
background thread. PostgreSQL frees a session lock when the session ends, so a node that dies
(kill -9, power loss) or loses its network to the database loses its leases with its connection,
and another node's next attempt takes them: no home-made membership or expiry. The thread asks
for every wanted lease it does not hold every `interval` seconds and checks the connection on
each round; a node that cannot reach the database for `stale_after` seconds counts its leases as
lost at once (held() says False; the loss callback runs), even before TCP notices, so two nodes
never both believe they hold one for longer than that.

`want(name, gained=..., lost=...)` registers a lease; the callbacks run on the lease thread (an
owner on an event loop hands them over with call_soon_threadsafe). Imports lamina.store.locks (its key hash) only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from lamina.store import locks

log = logging.getLogger("lamina.cluster.leases")

INTERVAL_S = 1.0  # how often missing leases are tried and the connection checked
STALE_AFTER_S = 6.0  # without a successful check for this long, every lease counts as lost
KEY_NAMESPACE = "lamina.lease:"


def lease_key(cluster: str, name: str) -> int:
    """The advisory lock key of lease `name` in `cluster` (the store's named-lock hash, under a prefix
    of its own so no lease shares a key with a control-plane lock)."""
    return locks.key(f"{KEY_NAMESPACE}{cluster}:{name}")


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://…) as libpq takes it (postgresql://…)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}" if sep else url


@dataclass
class _Wanted:
    key: int
    gained: Callable[[], None] | None
    lost: Callable[[], None] | None
    held: bool = False


class Leases:
    def __init__(self, database_url: str, *, cluster: str = "lamina", interval: float = INTERVAL_S,
                 stale_after: float = STALE_AFTER_S) -> None:
        self._url = libpq_url(database_url)
        self._cluster = cluster
        self._interval = interval
        self._stale_after = stale_after
        self._wanted: dict[str, _Wanted] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: psycopg.Connection | None = None
        self._last_ok = 0.0

    def want(self, name: str, *, gained: Callable[[], None] | None = None,
             lost: Callable[[], None] | None = None) -> None:
        with self._lock:
            self._wanted[name] = _Wanted(lease_key(self._cluster, name), gained, lost)

    def held(self, name: str) -> bool:
        wanted = self._wanted.get(name)
        return (wanted is not None and wanted.held
                and time.monotonic() - self._last_ok < self._stale_after)

    def holding(self) -> list[str]:
        return sorted(name for name in self._wanted if self.held(name))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lamina-leases", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop trying, give every lease back and call `lost`. The locks are unlocked before the session
        closes: PostgreSQL frees a closed session's locks only once its backend has seen the close, so
        another node trying at once could still find them taken."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._stale_after + 5)
        connection = self._connection
        if connection is not None and not connection.closed:
            try:
                connection.execute("SELECT pg_advisory_unlock_all()")
            except psycopg.Error:
                pass  # closing the session below frees them all the same, a moment later
        self._drop_connection()
        self._lose_all()

    def round(self) -> None:
        """One round: check the connection, then try every wanted lease not held (the thread's step)."""
        if time.monotonic() - self._last_ok >= self._stale_after and any(w.held for w in self._wanted.values()):
            self._drop_connection()  # a session we could not check may still hold locks: end it
            self._lose_all()
        try:
            connection = self._connect()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                self._last_ok = time.monotonic()
                with self._lock:
                    missing = [(name, wanted) for name, wanted in self._wanted.items() if not wanted.held]
                for name, wanted in missing:
                    cursor.execute("SELECT pg_try_advisory_lock(%s)", (wanted.key,))
                    row = cursor.fetchone()
                    if row and row[0]:
                        wanted.held = True
                        log.info("lease %s gained", name)
                        _call(wanted.gained, name)
        except psycopg.Error as error:
            log.warning("leases: the database is unreachable (%s); leases are given up", error)
            self._drop_connection()
            self._lose_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.round()
            self._stop.wait(self._interval)

    def _connect(self) -> psycopg.Connection:
        if self._connection is None or self._connection.closed:
            timeout_s = max(1, int(self._stale_after / 2))
            self._connection = psycopg.connect(
                self._url, autocommit=True, connect_timeout=timeout_s, application_name="lamina-leases",
                keepalives=1, keepalives_idle=2, keepalives_interval=1, keepalives_count=2,
                tcp_user_timeout=timeout_s * 1000, options=f"-c statement_timeout={timeout_s * 1000}")
        return self._connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except psycopg.Error:
                pass

    def _lose_all(self) -> None:
        with self._lock:
            lost = [(name, wanted) for name, wanted in self._wanted.items() if wanted.held]
            for _, wanted in lost:
                wanted.held = False
        for name, wanted in lost:
            log.info("lease %s lost", name)
            _call(wanted.lost, name)


def _call(callback: Callable[[], None] | None, name: str) -> None:
    if callback is None:
        return
    try:
        callback()
    except Exception:
        log.exception("the callback of lease %s failed", name)
