"""Concurrency blocks leased by front nodes in cluster mode (lamina.cluster.admission keeps the
policy): take units from a pool up to its capacity, set what a node keeps, renew a node's blocks,
forget expired ones. On PostgreSQL a take holds a transaction advisory lock on its pool, so two
fronts taking at once never hand out more than the capacity together; SQLite's one writer does
the same. Imports lamina.store.schema only.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from lamina.store.schema import concurrency_blocks as blocks


def _pool_key(pool: str) -> int:
    digest = hashlib.blake2b(f"lamina.concurrency:{pool}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def granted(want: int, capacity: int, held_by_others: int) -> int:
    """How many of `want` units a pool of `capacity` can still lend while others hold `held_by_others`."""
    return max(0, min(want, capacity - held_by_others))


class BlockStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def take(self, node: str, pool: str, want: int, capacity: int, *, ttl: float, now: float) -> int:
        """Lease up to `want` more units of `pool` to `node`; returns how many were granted."""
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _pool_key(pool)})
            others = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(blocks.c.units), 0))
                .where(blocks.c.pool == pool, blocks.c.node != node, blocks.c.expires_at > now)).scalar_one()
            mine = conn.execute(sa.select(blocks.c.units).where(blocks.c.pool == pool, blocks.c.node == node)
                                ).scalar_one_or_none()
            units = granted(want, capacity - (mine or 0), int(others))
            if units <= 0:
                return 0
            if mine is None:
                conn.execute(blocks.insert().values(node=node, pool=pool, units=units, expires_at=now + ttl))
            else:
                conn.execute(blocks.update().where(blocks.c.pool == pool, blocks.c.node == node)
                             .values(units=mine + units, expires_at=now + ttl))
            return units

    def keep(self, node: str, pool: str, units: int) -> None:
        """`node` now holds only `units` of `pool` (it gave the rest back)."""
        where = (blocks.c.pool == pool) & (blocks.c.node == node)
        with self._engine.begin() as conn:
            if units <= 0:
                conn.execute(blocks.delete().where(where))
            else:
                conn.execute(blocks.update().where(where).values(units=units))

    def renew(self, node: str, *, ttl: float, now: float) -> None:
        """Push back the expiry of every block `node` holds, and forget blocks nobody renewed."""
        with self._engine.begin() as conn:
            conn.execute(blocks.update().where(blocks.c.node == node).values(expires_at=now + ttl))
            conn.execute(blocks.delete().where(blocks.c.expires_at <= now))

    def held(self, node: str, *, now: float) -> dict[str, int]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(blocks.c.pool, blocks.c.units)
                                .where(blocks.c.node == node, blocks.c.expires_at > now))
            return {pool: units for pool, units in rows}

    def drop(self, node: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(blocks.delete().where(blocks.c.node == node))
