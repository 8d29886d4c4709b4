"""EventBridge deliveries that failed and wait, durably, for a retry or their dead-letter message.

Rows in, rows out: what a field means is lamina.rule_targets' and lamina.rule_retry's. Imports
lamina.store.schema only.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from lamina.store.schema import event_deliveries

_c = event_deliveries.c


@dataclass(frozen=True)
class PendingDelivery:
    id: int | None
    rule_arn: str
    function_arn: str
    target: dict
    payload: bytes
    first_at: float
    retries: int
    due_at: float
    error_code: str
    error_message: str
    final: bool
    condition: str | None


def _row(row) -> PendingDelivery:
    return PendingDelivery(row.id, row.rule_arn, row.function_arn, dict(row.target), bytes(row.payload),
                           row.first_at, row.retries, row.due_at, row.error_code, row.error_message,
                           bool(row.final), row.condition)


class DeliveryStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def add(self, pending: list[PendingDelivery]) -> None:
        if not pending:
            return
        with self._engine.begin() as conn:
            conn.execute(event_deliveries.insert(), [
                {"rule_arn": p.rule_arn, "function_arn": p.function_arn, "target": p.target, "payload": p.payload,
                 "first_at": p.first_at, "retries": p.retries, "due_at": p.due_at, "error_code": p.error_code,
                 "error_message": p.error_message, "final": p.final, "condition": p.condition} for p in pending])

    def due(self, now: float, limit: int) -> list[PendingDelivery]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(event_deliveries).where(_c.due_at <= now)
                                .order_by(_c.due_at, _c.id).limit(limit)).all()
        return [_row(row) for row in rows]

    def update(self, pending: PendingDelivery) -> None:
        with self._engine.begin() as conn:
            conn.execute(event_deliveries.update().where(_c.id == pending.id).values(
                retries=pending.retries, due_at=pending.due_at, error_code=pending.error_code,
                error_message=pending.error_message, final=pending.final, condition=pending.condition))

    def remove(self, delivery_id: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(event_deliveries.delete().where(_c.id == delivery_id))

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(event_deliveries)).scalar() or 0)
