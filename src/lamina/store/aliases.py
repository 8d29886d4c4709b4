"""Aliases in the metadata database. Imports lamina.model, lamina.store.schema,
lamina.store.locks and lamina.store.dialect only."""

from __future__ import annotations

import sqlalchemy as sa

from lamina.model import Alias
from lamina.store import locks
from lamina.store.dialect import insert_ignore
from lamina.store.schema import aliases


def _alias(row) -> Alias:
    return Alias(function_name=row.function_name, name=row.name, function_version=row.function_version,
                 description=row.description, weights=dict(row.weights or {}), revision_id=row.revision_id)


class AliasStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def locked(self, function_name: str):
        """The function's lock (FunctionStore.locked): an alias's update is a read-modify-write."""
        return locks.held(self._engine, "function", function_name)

    def _key(self, function_name: str, name: str):
        return (aliases.c.function_name == function_name) & (aliases.c.name == name)

    def get(self, function_name: str, name: str) -> Alias | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(aliases).where(self._key(function_name, name))).first()
        return _alias(row) if row else None

    def create(self, alias: Alias) -> bool:
        with self._engine.begin() as conn:
            return insert_ignore(conn, aliases, dict(
                function_name=alias.function_name, name=alias.name, function_version=alias.function_version,
                description=alias.description, weights=alias.weights, revision_id=alias.revision_id))

    def save(self, alias: Alias) -> None:
        with self._engine.begin() as conn:
            conn.execute(aliases.update().where(self._key(alias.function_name, alias.name)).values(
                function_version=alias.function_version, description=alias.description, weights=alias.weights,
                revision_id=alias.revision_id))

    def delete(self, function_name: str, name: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(aliases.delete().where(self._key(function_name, name)))

    def delete_all(self, function_name: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(aliases.delete().where(aliases.c.function_name == function_name))

    def list(self, function_name: str, *, function_version: str | None = None) -> list[Alias]:
        query = sa.select(aliases).where(aliases.c.function_name == function_name).order_by(aliases.c.name)
        if function_version is not None:
            query = query.where(aliases.c.function_version == function_version)
        with self._engine.connect() as conn:
            return [_alias(row) for row in conn.execute(query)]

    def pointing_at(self, function_name: str, version: str) -> list[Alias]:
        """Aliases whose primary or additional version is `version`."""
        return [a for a in self.list(function_name) if a.function_version == version or version in a.weights]
