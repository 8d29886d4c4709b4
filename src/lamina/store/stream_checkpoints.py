"""Stream checkpoints in the database: per (mapping, shard), where reading resumes. Written only
after a batch succeeded (or was given up on), so a restart or a SIGKILL resumes without skipping a
record; forgotten with their mapping. Imports lamina.store.schema and lamina.store.dialect only.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from lamina.model import Checkpoint
from lamina.store.dialect import upsert
from lamina.store.schema import event_source_mappings as mappings
from lamina.store.schema import stream_checkpoints as table


class CheckpointStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def load(self, mapping_uuid: str) -> dict[str, Checkpoint]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(table).where(table.c.mapping_uuid == mapping_uuid)).all()
        return {row.shard_id: Checkpoint(row.shard_id, row.sequence_number, row.position, row.at_timestamp,
                                         bool(row.finished), row.window) for row in rows}

    def save(self, mapping_uuid: str, checkpoint: Checkpoint) -> None:
        values = dict(mapping_uuid=mapping_uuid, shard_id=checkpoint.shard_id,
                      sequence_number=checkpoint.sequence_number, position=checkpoint.position,
                      at_timestamp=checkpoint.at_timestamp, finished=checkpoint.finished, window=checkpoint.window,
                      updated_at=time.time())
        key = (table.c.mapping_uuid == mapping_uuid) & (table.c.shard_id == checkpoint.shard_id)
        with self._engine.begin() as conn:
            if conn.execute(table.update().where(key).values(**values)).rowcount == 0:
                # Only for a mapping that still exists: a poller ending after its mapping was deleted
                # leaves nothing behind.
                exists = conn.execute(sa.select(mappings.c.uuid).where(mappings.c.uuid == mapping_uuid)).first()
                if exists is not None:
                    upsert(conn, table, values)

    def forget(self, mapping_uuid: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(table.delete().where(table.c.mapping_uuid == mapping_uuid))
