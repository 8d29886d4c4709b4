"""Function logs in the metadata database: log groups, streams and events (CloudWatch Logs' model).

`append` takes batches of (group, stream, events) and writes them in one transaction, creating
groups and streams on first use. Imports lamina.store.schema only.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from lamina.store.schema import log_events, log_groups, log_streams


class LogStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._known_groups: set[str] = set()
        self._known_streams: set[tuple[str, str]] = set()

    def append(self, batches: list[Any]) -> None:
        """Store every event of `batches` (objects with .group, .stream and .events of
        .timestamp_ms / .message)."""
        now = int(time.time() * 1000)
        rows = []
        streams: dict[tuple[str, str], tuple[int, int, int]] = {}  # (first ms, last ms, bytes)
        for batch in batches:
            for event in batch.events:
                rows.append({"log_group": batch.group, "log_stream": batch.stream,
                             "timestamp_ms": event.timestamp_ms, "ingestion_ms": now, "message": event.message})
                first, last, size = streams.get((batch.group, batch.stream), (event.timestamp_ms, 0, 0))
                streams[(batch.group, batch.stream)] = (
                    min(first, event.timestamp_ms), max(last, event.timestamp_ms), size + len(event.message))
        if not rows:
            return
        with self._engine.begin() as conn:
            for group, stream in streams:
                self._ensure(conn, group, stream, now)
            conn.execute(log_events.insert(), rows)
            for (group, stream), (first, last, size) in streams.items():
                conn.execute(log_streams.update().where(
                    (log_streams.c.log_group == group) & (log_streams.c.name == stream)
                ).values(
                    first_event_ms=sa.func.coalesce(log_streams.c.first_event_ms, first),
                    last_event_ms=last, last_ingestion_ms=now,
                    stored_bytes=log_streams.c.stored_bytes + size,
                ))

    def _ensure(self, conn: sa.Connection, group: str, stream: str, now: int) -> None:
        if group not in self._known_groups:
            if conn.execute(sa.select(log_groups.c.name).where(log_groups.c.name == group)).first() is None:
                conn.execute(log_groups.insert().values(name=group, created_ms=now))
            self._known_groups.add(group)
        if (group, stream) not in self._known_streams:
            exists = conn.execute(sa.select(log_streams.c.name).where(
                (log_streams.c.log_group == group) & (log_streams.c.name == stream))).first()
            if exists is None:
                conn.execute(log_streams.insert().values(log_group=group, name=stream, created_ms=now, stored_bytes=0))
            self._known_streams.add((group, stream))

    def events(self, group: str, stream: str | None = None) -> list[tuple[str, int, str]]:
        """(stream, timestamp ms, message) of a group's events in the order they were stored."""
        query = sa.select(log_events.c.log_stream, log_events.c.timestamp_ms, log_events.c.message).where(
            log_events.c.log_group == group).order_by(log_events.c.id)
        if stream is not None:
            query = query.where(log_events.c.log_stream == stream)
        with self._engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]
