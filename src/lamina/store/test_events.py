"""Saved test events in the database: (function, name) → the event's JSON text.

Imports lamina.store.schema and lamina.store.dialect only.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from lamina.store.dialect import upsert
from lamina.store.schema import test_events


class TestEventStore:
    __test__ = False  # not a pytest class

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def list(self, function_name: str) -> list[tuple[str, str, float]]:
        """(name, event, last modified) of a function's events, by name."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(test_events.c.name, test_events.c.event, test_events.c.last_modified)
                                .where(test_events.c.function_name == function_name)
                                .order_by(test_events.c.name)).all()
        return [(r.name, r.event, r.last_modified) for r in rows]

    def count(self, function_name: str) -> int:
        with self._engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(test_events)
                                .where(test_events.c.function_name == function_name)).scalar_one()

    def put(self, function_name: str, name: str, event: str) -> float:
        now = time.time()
        with self._engine.begin() as conn:
            upsert(conn, test_events, dict(function_name=function_name, name=name, event=event, last_modified=now))
        return now

    def delete(self, function_name: str, name: str | None = None) -> bool:
        """Deletes one event (or, with no name, all of the function's); whether any existed."""
        condition = test_events.c.function_name == function_name
        if name is not None:
            condition &= test_events.c.name == name
        with self._engine.begin() as conn:
            return conn.execute(test_events.delete().where(condition)).rowcount > 0
