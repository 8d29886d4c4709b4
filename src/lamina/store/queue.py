"""The durable async queue's table: events accepted with 202 stay here until they are finished.

Imports lamina.store.schema only.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from lamina.store.schema import queue_events


@dataclass(frozen=True)
class QueuedEvent:
    id: int
    request_id: str
    function_name: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float
    due_at: float
    runs: int
    throttles: int


class QueueStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def add_many(self, events: list[dict]) -> None:
        """Commit several accepted events in one transaction (the group commit)."""
        self.commit(events, [])

    def commit(self, add: list[dict], remove: list[int]) -> None:
        """Accept `add` and forget the finished `remove` in one transaction."""
        with self._engine.begin() as conn:
            if add:
                conn.execute(queue_events.insert(), [{**event, "runs": 0, "throttles": 0}
                                                     for event in add])
            if remove:
                conn.execute(queue_events.delete().where(queue_events.c.id.in_(remove)))

    def due(self, now: float, limit: int) -> list[QueuedEvent]:
        """Events due at `now`, earliest first (a read: one node runs them and knows which it runs)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(queue_events).where(queue_events.c.due_at <= now)
                .order_by(queue_events.c.due_at).limit(limit)
            ).all()
        return [QueuedEvent(r.id, r.request_id, r.function_name, r.qualifier, r.payload, r.enqueued_at, r.due_at,
                            r.runs, r.throttles) for r in rows]

    def reschedule(self, event_id: int, *, due_at: float, runs: int, throttles: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(queue_events.update().where(queue_events.c.id == event_id).values(
                due_at=due_at, runs=runs, throttles=throttles))

    def remove(self, event_id: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(queue_events.delete().where(queue_events.c.id == event_id))

    def next_due(self) -> float | None:
        with self._engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(queue_events.c.due_at))).scalar()

    def oldest(self) -> float | None:
        """When the oldest waiting event was accepted (epoch seconds), or None when none waits."""
        with self._engine.connect() as conn:
            return conn.execute(sa.select(sa.func.min(queue_events.c.enqueued_at))).scalar()

    def depth(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(queue_events)).scalar_one())
