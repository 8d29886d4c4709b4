"""Event invoke configs (per function and qualifier) and reserved concurrency in the database.

Imports lamina.store.schema, lamina.store.locks and lamina.store.dialect only.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from lamina.store import locks
from lamina.store.dialect import upsert
from lamina.store.schema import event_invoke_configs, function_concurrency


class EventConfigStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def locked(self, function_name: str):
        """The function's lock (FunctionStore.locked): UpdateFunctionEventInvokeConfig merges into the
        stored config."""
        return locks.held(self._engine, "function", function_name)

    def _key(self, function_name: str, qualifier: str):
        return (event_invoke_configs.c.function_name == function_name) & (event_invoke_configs.c.qualifier == qualifier)

    def get(self, function_name: str, qualifier: str) -> tuple[dict, float] | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(event_invoke_configs.c.config, event_invoke_configs.c.last_modified)
                               .where(self._key(function_name, qualifier))).first()
        return (dict(row.config), row.last_modified) if row else None

    def put(self, function_name: str, qualifier: str, config: dict) -> float:
        now = time.time()
        with self._engine.begin() as conn:
            upsert(conn, event_invoke_configs, dict(function_name=function_name, qualifier=qualifier, config=config,
                                                    last_modified=now))
        return now

    def delete(self, function_name: str, qualifier: str | None = None) -> None:
        condition = event_invoke_configs.c.function_name == function_name
        if qualifier is not None:
            condition = self._key(function_name, qualifier)
        with self._engine.begin() as conn:
            conn.execute(event_invoke_configs.delete().where(condition))

    def list(self, function_name: str) -> list[tuple[str, dict, float]]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(event_invoke_configs).where(
                event_invoke_configs.c.function_name == function_name).order_by(event_invoke_configs.c.qualifier))
            return [(row.qualifier, dict(row.config), row.last_modified) for row in rows]

    # -- reserved concurrency -----------------------------------------------------------------
    def concurrency_locked(self):
        """A context in which reserved and provisioned concurrency change one change at a time, across
        every process (lamina.store.locks): each is checked against the account's sum before it is stored."""
        return locks.held(self._engine, "concurrency")

    def reserved(self) -> dict[str, int]:
        with self._engine.connect() as conn:
            return {row.function_name: row.reserved for row in conn.execute(sa.select(function_concurrency))}

    def set_reserved(self, function_name: str, reserved: int | None) -> None:
        with self._engine.begin() as conn:
            if reserved is None:
                conn.execute(function_concurrency.delete().where(function_concurrency.c.function_name == function_name))
            else:
                upsert(conn, function_concurrency, dict(function_name=function_name, reserved=reserved))
