"""Named locks that make the control plane's read-modify-writes one at a time across every process
sharing the database.

A change such as AttachRolePolicy, AddPermission, UpdateAlias or TagResource reads a record, changes
it and writes it back in separate transactions; two of them at once lose one change unless they take
turns. `held(engine, *name)` is a context manager around such a change:

- in this process, threads take turns on a re-entrant lock per engine and name (one thread per name
  waits on the database, so waiting never takes more than one pooled connection per name);
- on PostgreSQL the holder also takes a transaction-level advisory lock on a 64-bit hash of the name,
  on a connection of its own kept open for the block, so the fronts of a cluster take turns too (a
  dead front's connection ends and the lock with it). An advisory lock, not `SELECT ... FOR UPDATE`,
  because the record may not exist yet (a function's first AddPermission creates its policy);
- on SQLite (one process) the in-process lock is all there is.

Re-entrant in one thread (a nested `held` of a name already held does nothing), so a change may call
another that locks the same name (AddPermission gives the function a new RevisionId). Take a named
lock before any in-process lock of the control plane, never while holding one: that keeps the order
the same everywhere. Imports nothing from lamina.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

_guard = threading.Lock()
_locks: dict[str, threading.RLock] = {}
_local = threading.local()


def key(name: str) -> int:
    """The advisory lock key of a name: a signed 64-bit hash."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _lock_of(name: str) -> threading.RLock:
    with _guard:
        lock = _locks.get(name)
        if lock is None:
            lock = _locks[name] = threading.RLock()
        return lock


def _held() -> set[str]:
    held = getattr(_local, "held", None)
    if held is None:
        held = _local.held = set()
    return held


@contextmanager
def held(engine: sa.Engine, *parts: str) -> Iterator[None]:
    """Hold the lock named by `parts` (e.g. ("function", name)) for the block."""
    name = "\x1f".join(parts)
    token = f"{id(engine)}\x1e{name}"
    held_here = _held()
    if token in held_here:
        yield
        return
    with _lock_of(token):
        held_here.add(token)
        try:
            if engine.dialect.name == "postgresql":
                with engine.connect() as conn, conn.begin():
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key(name)})
                    yield
            else:
                yield
        finally:
            held_here.discard(token)
