"""Provisioned concurrency configs in the database. Imports lamina.store.schema, lamina.store.locks and
lamina.store.dialect only."""

from __future__ import annotations

import sqlalchemy as sa

from lamina.store import locks
from lamina.store.dialect import upsert
from lamina.store.schema import provisioned_configs

Row = tuple[str, str, int, str]  # (function, qualifier, requested, last modified)


class ProvisionedStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def locked(self):
        """The account's concurrency lock (EventConfigStore.concurrency_locked): a config is checked
        against what every function reserves and provisions before it is stored."""
        return locks.held(self._engine, "concurrency")

    def _key(self, function_name: str, qualifier: str):
        return (provisioned_configs.c.function_name == function_name) & (provisioned_configs.c.qualifier == qualifier)

    def put(self, function_name: str, qualifier: str, requested: int, last_modified: str) -> None:
        with self._engine.begin() as conn:
            upsert(conn, provisioned_configs, dict(function_name=function_name, qualifier=qualifier,
                                                   requested=requested, last_modified=last_modified))

    def delete(self, function_name: str, qualifier: str | None = None) -> None:
        where = provisioned_configs.c.function_name == function_name
        if qualifier is not None:
            where = self._key(function_name, qualifier)
        with self._engine.begin() as conn:
            conn.execute(provisioned_configs.delete().where(where))

    def all(self, function_name: str | None = None) -> list[Row]:
        query = sa.select(provisioned_configs).order_by(provisioned_configs.c.function_name,
                                                        provisioned_configs.c.qualifier)
        if function_name is not None:
            query = query.where(provisioned_configs.c.function_name == function_name)
        with self._engine.connect() as conn:
            return [(r.function_name, r.qualifier, r.requested, r.last_modified) for r in conn.execute(query)]
