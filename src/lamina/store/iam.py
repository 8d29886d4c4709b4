"""IAM entities and access keys in the database: roles, users and customer managed policies as one
JSON document each (keyed by kind and name; a policy by its ARN), access keys as rows.

Imports lamina.store.schema, lamina.store.locks and lamina.store.dialect only.
"""

from __future__ import annotations

import itertools
import time
from typing import NamedTuple

import sqlalchemy as sa

from lamina.store import locks
from lamina.store.dialect import insert_ignore
from lamina.store.schema import iam_access_keys, iam_entities


class AccessKeyRow(NamedTuple):
    access_key_id: str
    user_name: str
    secret: str
    status: str
    created_at: float


class IamStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._writes = itertools.count(1)
        # Changes after every committed write of an entity: what was read of IAM under one revision
        # (e.g. the authorizer's identity policies) is current while it stays the same.
        self.revision = 0

    def locked(self):
        """A context in which IAM's entity documents change one change at a time, across every process
        (lamina.store.locks): each change reads a document, edits it and writes it back."""
        return locks.held(self._engine, "iam")

    def _written(self) -> None:
        self.revision = next(self._writes)

    def _key(self, kind: str, name: str):
        return (iam_entities.c.kind == kind) & (iam_entities.c.name == name)

    def get(self, kind: str, name: str) -> dict | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(iam_entities.c.data).where(self._key(kind, name))).first()
        return dict(row.data) if row else None

    def insert(self, kind: str, name: str, data: dict) -> bool:
        """Store a new entity; False when one of that kind and name exists."""
        with self._engine.begin() as conn:
            if not insert_ignore(conn, iam_entities, dict(kind=kind, name=name, data=data, created_at=time.time())):
                return False
        self._written()
        return True

    def put(self, kind: str, name: str, data: dict) -> None:
        with self._engine.begin() as conn:
            conn.execute(iam_entities.update().where(self._key(kind, name)).values(data=data))
        self._written()

    def delete(self, kind: str, name: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(iam_entities.delete().where(self._key(kind, name)))
        self._written()

    def all(self, kind: str) -> list[dict]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(iam_entities.c.data).where(iam_entities.c.kind == kind)
                                .order_by(iam_entities.c.name))
            return [dict(row.data) for row in rows]

    # -- access keys ------------------------------------------------------------------------------
    def add_key(self, access_key_id: str, user_name: str, secret: str) -> AccessKeyRow:
        row = AccessKeyRow(access_key_id, user_name, secret, "Active", time.time())
        with self._engine.begin() as conn:
            conn.execute(iam_access_keys.insert().values(**row._asdict()))
        return row

    def key(self, access_key_id: str) -> AccessKeyRow | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(iam_access_keys).where(
                iam_access_keys.c.access_key_id == access_key_id)).first()
        return AccessKeyRow(*row) if row else None

    def keys(self, user_name: str) -> list[AccessKeyRow]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(iam_access_keys).where(iam_access_keys.c.user_name == user_name)
                                .order_by(iam_access_keys.c.created_at))
            return [AccessKeyRow(*row) for row in rows]

    def set_key_status(self, access_key_id: str, status: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(iam_access_keys.update().where(iam_access_keys.c.access_key_id == access_key_id)
                         .values(status=status))

    def delete_key(self, access_key_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(iam_access_keys.delete().where(iam_access_keys.c.access_key_id == access_key_id))
