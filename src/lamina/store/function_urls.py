"""Function URL configs in the database, by (function, qualifier) and by URL id.

Imports lamina.store.schema, lamina.store.locks, lamina.store.dialect and lamina.model only.
"""

from __future__ import annotations

import sqlalchemy as sa

from lamina.model import FunctionUrlConfig
from lamina.store import locks
from lamina.store.dialect import insert_ignore
from lamina.store.schema import function_urls


def _config(row) -> FunctionUrlConfig:
    return FunctionUrlConfig(function_name=row.function_name, qualifier=row.qualifier, url_id=row.url_id,
                             auth_type=row.auth_type, cors=dict(row.cors) if row.cors is not None else None,
                             invoke_mode=row.invoke_mode, creation_time=row.creation_time,
                             last_modified_time=row.last_modified_time)


class FunctionUrlStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def locked(self, function_name: str):
        """The function's lock (FunctionStore.locked): UpdateFunctionUrlConfig is a read-modify-write."""
        return locks.held(self._engine, "function", function_name)

    def _key(self, function_name: str, qualifier: str):
        return (function_urls.c.function_name == function_name) & (function_urls.c.qualifier == qualifier)

    def get(self, function_name: str, qualifier: str) -> FunctionUrlConfig | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(function_urls).where(self._key(function_name, qualifier))).first()
        return _config(row) if row else None

    def by_id(self, url_id: str) -> FunctionUrlConfig | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(function_urls).where(function_urls.c.url_id == url_id)).first()
        return _config(row) if row else None

    def create(self, config: FunctionUrlConfig) -> bool:
        """False when the (function, qualifier) already has one."""
        with self._engine.begin() as conn:
            return insert_ignore(conn, function_urls, dict(
                function_name=config.function_name, qualifier=config.qualifier, url_id=config.url_id,
                auth_type=config.auth_type, cors=config.cors, invoke_mode=config.invoke_mode,
                creation_time=config.creation_time, last_modified_time=config.last_modified_time))

    def save(self, config: FunctionUrlConfig) -> None:
        with self._engine.begin() as conn:
            conn.execute(function_urls.update().where(self._key(config.function_name, config.qualifier)).values(
                auth_type=config.auth_type, cors=config.cors, invoke_mode=config.invoke_mode,
                last_modified_time=config.last_modified_time))

    def delete(self, function_name: str, qualifier: str | None = None) -> list[str]:
        """Removes one config (or all of a function's); the URL ids removed."""
        where = function_urls.c.function_name == function_name
        if qualifier is not None:
            where = self._key(function_name, qualifier)
        with self._engine.begin() as conn:
            ids = [row.url_id for row in conn.execute(sa.select(function_urls.c.url_id).where(where))]
            conn.execute(function_urls.delete().where(where))
        return ids

    def list(self, function_name: str) -> list[FunctionUrlConfig]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(function_urls).where(function_urls.c.function_name == function_name)
                                .order_by(function_urls.c.qualifier))
            return [_config(row) for row in rows]
