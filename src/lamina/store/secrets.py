"""Secrets every front of a cluster must hold alike, so a token one front sealed verifies on another
and the administrator's key works on all of them: the STS master key and the administrator's access
key. In a shared database (PostgreSQL) they live in `shared_secrets`, made once by whichever node
comes first (insert if absent, then read: nodes starting together agree); on SQLite (one node) the
master key stays in its data-dir file (`private_files`) and `shared` answers None.

Imports lamina.store.schema, lamina.store.dialect and lamina.store.private_files only.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from lamina.store import private_files
from lamina.store.dialect import insert_ignore, upsert
from lamina.store.schema import shared_secrets

MASTER_KEY = "sts-master-key"
ADMIN_KEY = "admin-access-key"


class SecretStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def get(self, name: str) -> bytes | None:
        with self._engine.connect() as conn:
            value = conn.execute(sa.select(shared_secrets.c.value).where(shared_secrets.c.name == name)).scalar()
        return bytes(value) if value is not None else None

    def add(self, name: str, value: bytes) -> bool:
        """Store `value` unless `name` holds one already; whether it was stored."""
        with self._engine.begin() as conn:
            return insert_ignore(conn, shared_secrets, {"name": name, "value": value, "created_at": time.time()})

    def put(self, name: str, value: bytes) -> None:
        with self._engine.begin() as conn:
            upsert(conn, shared_secrets, {"name": name, "value": value, "created_at": time.time()})

    def replace(self, name: str, old: bytes, new: bytes) -> bool:
        """Store `new` under `name` if it still holds `old` (compare and set); whether it did."""
        with self._engine.begin() as conn:
            return conn.execute(shared_secrets.update().where(
                (shared_secrets.c.name == name) & (shared_secrets.c.value == old)).values(value=new)).rowcount == 1

    def get_or_add(self, name: str, make: Callable[[], bytes]) -> bytes:
        """The value stored under `name`, storing `make()` first when there is none."""
        value = self.get(name)
        if value is not None:
            return value
        self.add(name, make())
        value = self.get(name)
        assert value is not None
        return value


def shared(engine: sa.Engine) -> SecretStore | None:
    """The store of shared secrets, or None on SQLite (a single node keeps them in its data dir)."""
    return None if engine.dialect.name == "sqlite" else SecretStore(engine)


def master_key(engine: sa.Engine, path: Path) -> bytes:
    """The 32-byte STS master key: the cluster's, in a shared database, else the data dir's file at `path`."""
    store = shared(engine)
    if store is None:
        return private_files.master_key(path)
    return store.get_or_add(MASTER_KEY, lambda: secrets.token_bytes(32))
