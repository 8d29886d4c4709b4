"""Event source mappings in the database: one row per mapping, its configuration as JSON.

Imports lamina.store.schema, lamina.store.locks, lamina.store.dialect and lamina.model only.
"""

from __future__ import annotations

import sqlalchemy as sa

from lamina.model import EventSourceMapping
from lamina.store import locks
from lamina.store.dialect import upsert
from lamina.store.schema import event_source_mappings as table


def _record(row) -> EventSourceMapping:
    return EventSourceMapping(
        uuid=row.uuid, function_name=row.function_name, qualifier=row.qualifier,
        event_source_arn=row.event_source_arn, kind=row.kind, config=dict(row.config), enabled=bool(row.enabled),
        state=row.state, state_reason=row.state_reason, last_processing_result=row.last_processing_result,
        last_modified=row.last_modified, tags=dict(row.tags or {}))


class MappingStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def locked(self):
        """A context in which event source mappings are created, updated and deleted one at a time,
        across every process (lamina.store.locks): an update reads the mapping and writes it whole,
        and a create checks for a duplicate before it inserts."""
        return locks.held(self._engine, "event-source-mappings")

    def put(self, mapping: EventSourceMapping) -> None:
        values = dict(uuid=mapping.uuid, function_name=mapping.function_name, qualifier=mapping.qualifier,
                      event_source_arn=mapping.event_source_arn, kind=mapping.kind, config=mapping.config,
                      enabled=mapping.enabled, state=mapping.state, state_reason=mapping.state_reason,
                      last_processing_result=mapping.last_processing_result, last_modified=mapping.last_modified,
                      tags=mapping.tags)
        with self._engine.begin() as conn:
            upsert(conn, table, values)

    def get(self, uuid: str) -> EventSourceMapping | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.uuid == uuid)).first()
        return _record(row) if row else None

    def list(self, *, function_name: str | None = None, event_source_arn: str | None = None
             ) -> list[EventSourceMapping]:
        query = sa.select(table).order_by(table.c.uuid)
        if function_name is not None:
            query = query.where(table.c.function_name == function_name)
        if event_source_arn is not None:
            query = query.where(table.c.event_source_arn == event_source_arn)
        with self._engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def set_status(self, uuid: str, **changes: object) -> bool:
        """Change state / state_reason / last_processing_result of a mapping; False when it is gone."""
        if not changes:
            return True
        with self._engine.begin() as conn:
            return conn.execute(table.update().where(table.c.uuid == uuid).values(**changes)).rowcount > 0

    def set_tags(self, uuid: str, tags: dict[str, str]) -> bool:
        """Replace a mapping's tags; False when it is gone."""
        with self._engine.begin() as conn:
            return conn.execute(table.update().where(table.c.uuid == uuid).values(tags=tags)).rowcount > 0

    def delete(self, uuid: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(table.delete().where(table.c.uuid == uuid))

    def count(self) -> dict[str, int]:
        """Mappings by state (for /health)."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.state, sa.func.count()).group_by(table.c.state))
            return {state: n for state, n in rows}
