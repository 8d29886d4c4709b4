"""Resource-based policies in the metadata database: a function's per qualifier, a layer version's.

A policy is its ordered statement list and a revision id, keyed by (kind, name, qualifier).
Imports lamina.store.schema, lamina.store.locks and lamina.store.dialect only.
"""

from __future__ import annotations

import sqlalchemy as sa

from lamina.store import locks
from lamina.store.dialect import upsert
from lamina.store.schema import resource_policies

Key = tuple[str, str, str]  # (kind, name, qualifier)
Stored = tuple[list[dict], str]  # (statements, revision id)


class PolicyStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def locked(self, key: Key):
        """A context in which the policy at `key` changes one change at a time, across every process
        (lamina.store.locks). A function's policies share the function's lock (FunctionStore.locked):
        a change of one gives the function, version or alias a new RevisionId."""
        kind, name, qualifier = key
        if kind == "function":
            return locks.held(self._engine, "function", name)
        return locks.held(self._engine, kind, name, qualifier)

    @staticmethod
    def _where(key: Key):
        kind, name, qualifier = key
        return ((resource_policies.c.kind == kind) & (resource_policies.c.name == name)
                & (resource_policies.c.qualifier == qualifier))

    def get(self, key: Key) -> Stored | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(resource_policies.c.statements, resource_policies.c.revision_id)
                               .where(self._where(key))).first()
        return (list(row.statements), row.revision_id) if row is not None else None

    def put(self, key: Key, statements: list[dict], revision_id: str) -> None:
        """Store the policy's statements (none: the policy is gone)."""
        kind, name, qualifier = key
        with self._engine.begin() as conn:
            if not statements:
                conn.execute(resource_policies.delete().where(self._where(key)))
                return
            upsert(conn, resource_policies, dict(kind=kind, name=name, qualifier=qualifier, statements=statements,
                                                 revision_id=revision_id))

    def delete(self, kind: str, name: str, qualifier: str | None = None) -> None:
        """Every policy of `name` (or of one qualifier of it)."""
        where = (resource_policies.c.kind == kind) & (resource_policies.c.name == name)
        if qualifier is not None:
            where = where & (resource_policies.c.qualifier == qualifier)
        with self._engine.begin() as conn:
            conn.execute(resource_policies.delete().where(where))
