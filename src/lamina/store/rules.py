"""EventBridge buses, rules and targets in the database, and each scheduled rule's clock state.

Rows in, rows out: what a field means is lamina.control.rules'. `mark_fired` is a compare-and-set
(the minute is recorded only if it is later than the one stored), so two ticks, or a tick and a
restart, never both claim one minute. Imports lamina.store.schema, lamina.store.locks and
lamina.store.dialect only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from lamina.store import locks
from lamina.store.dialect import insert_ignore, starts_with, upsert
from lamina.store.schema import event_buses, event_rules, event_targets


@dataclass(frozen=True)
class RuleRow:
    bus: str
    name: str
    config: dict
    tags: dict
    schedule_anchor: int | None
    last_fired: int | None


@dataclass(frozen=True)
class BusRow:
    name: str
    config: dict
    tags: dict
    created_at: float


def _rule(row) -> RuleRow:
    return RuleRow(row.bus, row.name, dict(row.config), dict(row.tags), row.schedule_anchor, row.last_fired)


class RuleStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def locked(self):
        """A context in which rules, their targets and the buses' tags change one change at a time,
        across every process (lamina.store.locks): PutRule keeps a rule's tags and schedule anchor,
        PutTargets checks the target count, TagResource merges tags."""
        return locks.held(self._engine, "event-rules")

    # -- buses ----------------------------------------------------------------------------------
    def bus(self, name: str) -> BusRow | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(event_buses).where(event_buses.c.name == name)).first()
        return BusRow(row.name, dict(row.config), dict(row.tags), row.created_at) if row else None

    def buses(self, prefix: str = "") -> list[BusRow]:
        query = sa.select(event_buses).order_by(event_buses.c.name)
        if prefix:
            query = query.where(starts_with(event_buses.c.name, prefix))
        with self._engine.connect() as conn:
            return [BusRow(r.name, dict(r.config), dict(r.tags), r.created_at) for r in conn.execute(query)]

    def create_bus(self, name: str, config: dict, tags: dict) -> bool:
        """False when a bus of that name exists."""
        with self._engine.begin() as conn:
            return insert_ignore(conn, event_buses, dict(name=name, config=config, tags=tags, created_at=time.time()))

    def delete_bus(self, name: str) -> None:
        """The bus, its rules and their targets."""
        with self._engine.begin() as conn:
            conn.execute(event_targets.delete().where(event_targets.c.bus == name))
            conn.execute(event_rules.delete().where(event_rules.c.bus == name))
            conn.execute(event_buses.delete().where(event_buses.c.name == name))

    def set_bus_tags(self, name: str, tags: dict) -> None:
        with self._engine.begin() as conn:
            conn.execute(event_buses.update().where(event_buses.c.name == name).values(tags=tags))

    # -- rules ----------------------------------------------------------------------------------
    def rule(self, bus: str, name: str) -> RuleRow | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(event_rules).where(
                (event_rules.c.bus == bus) & (event_rules.c.name == name))).first()
        return _rule(row) if row else None

    def rules(self, bus: str, prefix: str = "") -> list[RuleRow]:
        query = sa.select(event_rules).where(event_rules.c.bus == bus).order_by(event_rules.c.name)
        if prefix:
            query = query.where(starts_with(event_rules.c.name, prefix))
        with self._engine.connect() as conn:
            return [_rule(row) for row in conn.execute(query)]

    def scheduled(self) -> list[RuleRow]:
        """Every rule that has a schedule (the clock filters on state)."""
        with self._engine.connect() as conn:
            return [_rule(row) for row in conn.execute(
                sa.select(event_rules).where(event_rules.c.schedule_anchor.is_not(None)))]

    def put_rule(self, row: RuleRow) -> None:
        """Create or replace a rule. Its last fired minute never moves back: a minute the clock
        claimed while the caller held an older copy of the row stays claimed."""
        where = (event_rules.c.bus == row.bus) & (event_rules.c.name == row.name)
        with self._engine.begin() as conn:  # the row stays locked (PostgreSQL) until the new one is written
            stored = conn.execute(sa.select(event_rules.c.last_fired).where(where).with_for_update()).scalar()
            last_fired = row.last_fired
            if row.schedule_anchor is not None and stored is not None:
                last_fired = max(stored, last_fired if last_fired is not None else stored)
            upsert(conn, event_rules, dict(bus=row.bus, name=row.name, config=row.config, tags=row.tags,
                                           schedule_anchor=row.schedule_anchor, last_fired=last_fired))

    def delete_rule(self, bus: str, name: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(event_targets.delete().where((event_targets.c.bus == bus) & (event_targets.c.rule == name)))
            conn.execute(event_rules.delete().where((event_rules.c.bus == bus) & (event_rules.c.name == name)))

    def mark_fired(self, bus: str, name: str, minute: int) -> bool:
        """Record `minute` as the rule's last fired minute if it is later than the one stored;
        whether it was (False: the minute was already claimed, or the rule is gone)."""
        with self._engine.begin() as conn:
            result = conn.execute(event_rules.update().where(
                (event_rules.c.bus == bus) & (event_rules.c.name == name)
                & ((event_rules.c.last_fired.is_(None)) | (event_rules.c.last_fired < minute))
            ).values(last_fired=minute))
        return result.rowcount == 1

    def rewind(self, bus: str, name: str, minute: int) -> None:
        """Move a rule's clock state back to `minute` (its last fired minute lies in the future)."""
        where = (event_rules.c.bus == bus) & (event_rules.c.name == name)
        with self._engine.begin() as conn:
            conn.execute(event_rules.update().where(where).values(
                last_fired=minute, schedule_anchor=sa.case((event_rules.c.schedule_anchor > minute, minute),
                                                      else_=event_rules.c.schedule_anchor)))

    # -- targets --------------------------------------------------------------------------------
    def targets(self, bus: str, rule: str) -> list[dict]:
        with self._engine.connect() as conn:
            return [dict(row.config) for row in conn.execute(
                sa.select(event_targets.c.config).where((event_targets.c.bus == bus) & (event_targets.c.rule == rule))
                .order_by(event_targets.c.position, event_targets.c.id))]

    def put_targets(self, bus: str, rule: str, targets: list[dict]) -> None:
        """Add or replace targets by Id (a replaced target keeps its place)."""
        with self._engine.begin() as conn:
            where = (event_targets.c.bus == bus) & (event_targets.c.rule == rule)
            existing = {row.id: row.position for row in conn.execute(
                sa.select(event_targets.c.id, event_targets.c.position).where(where))}
            following = max(existing.values(), default=-1) + 1
            for target in targets:
                position = existing.get(target["Id"])
                if position is None:
                    position, following = following, following + 1
                upsert(conn, event_targets, dict(bus=bus, rule=rule, id=target["Id"], arn=target["Arn"],
                                                 config=target, position=position))

    def remove_targets(self, bus: str, rule: str, ids: list[str]) -> None:
        with self._engine.begin() as conn:
            conn.execute(event_targets.delete().where(
                (event_targets.c.bus == bus) & (event_targets.c.rule == rule) & event_targets.c.id.in_(ids)))

    def rules_by_target(self, bus: str, arn: str) -> list[str]:
        with self._engine.connect() as conn:
            return sorted({row.rule for row in conn.execute(
                sa.select(event_targets.c.rule).where((event_targets.c.bus == bus) & (event_targets.c.arn == arn)))})

    def set_rule_tags(self, bus: str, name: str, tags: dict) -> None:
        with self._engine.begin() as conn:
            conn.execute(event_rules.update().where((event_rules.c.bus == bus) & (event_rules.c.name == name))
                         .values(tags=tags))
