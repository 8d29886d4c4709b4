"""Deployed stacks' state documents in the database. Imports lamina.store.schema and lamina.store.dialect only."""

from __future__ import annotations

import sqlalchemy as sa

from lamina.store.dialect import upsert
from lamina.store.schema import stacks


class StackStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def put(self, name: str, document: str, updated: str) -> None:
        with self._engine.begin() as conn:
            upsert(conn, stacks, dict(name=name, document=document, updated=updated))

    def get(self, name: str) -> tuple[str, str] | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(stacks.c.document, stacks.c.updated).where(stacks.c.name == name)).first()
        return (row.document, row.updated) if row else None

    def names(self) -> list[tuple[str, str]]:
        with self._engine.connect() as conn:
            return [(r.name, r.updated) for r in conn.execute(sa.select(stacks.c.name, stacks.c.updated)
                                                              .order_by(stacks.c.name))]

    def delete(self, name: str) -> bool:
        with self._engine.begin() as conn:
            return conn.execute(stacks.delete().where(stacks.c.name == name)).rowcount > 0
