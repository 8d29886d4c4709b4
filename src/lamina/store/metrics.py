"""Invocation metrics in the metadata database: per-minute rows per function (and "ALL") for graphs,
and lifetime usage per function for the cost report.

`add_minutes` upserts a batch in one transaction, adding to what a (function, minute) row already
holds (maxima keep the larger value) and to the function's lifetime totals; `expire` deletes old
minutes (the totals stay). Answers with plain dicts. Imports lamina.store.schema, lamina.store.dialect
and lamina.model (ALL) only.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from lamina.model import ALL
from lamina.store.dialect import insert_for, whole_sum
from lamina.store.schema import metric_minutes, metric_totals

KEY = ("function", "minute")
MAX_COLUMNS = tuple(c.name for c in metric_minutes.columns if c.name.endswith("_max"))
SUM_COLUMNS = tuple(c.name for c in metric_minutes.columns if c.name not in KEY and c.name not in MAX_COLUMNS)
VALUE_COLUMNS = SUM_COLUMNS + MAX_COLUMNS
# Lifetime totals: their column ← the minute column it adds up.
TOTALS_FROM = {"requests": "invocations", "errors": "errors", "throttles": "throttles",
               "billed_ms": "billed_ms_sum", "gb_seconds": "gb_seconds",
               "gb_seconds_arm64": "gb_seconds_arm64"}


def _larger(current: sa.ColumnElement, new: sa.ColumnElement) -> sa.ColumnElement:
    return sa.case((new > current, new), else_=current)


def _smaller(current: sa.ColumnElement, new: sa.ColumnElement) -> sa.ColumnElement:
    return sa.case((new < current, new), else_=current)


def _merged(rows: Iterable[dict]) -> dict[tuple[str, int], dict]:
    """The rows with one entry per (function, minute); missing values count as 0."""
    merged: dict[tuple[str, int], dict] = {}
    for row in rows:
        key = (str(row["function"]), int(row["minute"]))
        values = {name: row.get(name) or 0 for name in VALUE_COLUMNS}
        into = merged.get(key)
        if into is None:
            merged[key] = {"function": key[0], "minute": key[1], **values}
            continue
        for name in SUM_COLUMNS:
            into[name] += values[name]
        for name in MAX_COLUMNS:
            into[name] = max(into[name], values[name])
    return merged


class MetricStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    # -- writes -------------------------------------------------------------------------------
    def add_minutes(self, rows: list[dict]) -> None:
        """Add a batch of minute rows ({function, minute, invocations, errors, ...}) to the stored ones,
        and the rows of real functions (not "ALL") to their lifetime totals."""
        minutes = list(_merged(rows).values())
        if not minutes:
            return
        totals: dict[str, dict] = {}
        for row in minutes:
            if row["function"] == ALL or not any(row[source] for source in TOTALS_FROM.values()):
                continue
            total = totals.get(row["function"])
            if total is None:
                total = totals[row["function"]] = {
                    "function": row["function"], "first_minute": row["minute"], "last_minute": row["minute"],
                    **dict.fromkeys(TOTALS_FROM, 0)}
            for column, source in TOTALS_FROM.items():
                total[column] += row[source]
            total["first_minute"] = min(total["first_minute"], row["minute"])
            total["last_minute"] = max(total["last_minute"], row["minute"])
        with self._engine.begin() as conn:
            insert = insert_for(conn, metric_minutes)
            c, new = metric_minutes.c, insert.excluded
            updates = {name: c[name] + new[name] for name in SUM_COLUMNS}
            updates.update({name: _larger(c[name], new[name]) for name in MAX_COLUMNS})
            conn.execute(insert.on_conflict_do_update(index_elements=list(KEY), set_=updates), minutes)
            if totals:
                insert = insert_for(conn, metric_totals)
                c, new = metric_totals.c, insert.excluded
                updates = {name: c[name] + new[name] for name in TOTALS_FROM}
                updates["first_minute"] = _smaller(c.first_minute, new.first_minute)
                updates["last_minute"] = _larger(c.last_minute, new.last_minute)
                conn.execute(insert.on_conflict_do_update(index_elements=["function"], set_=updates),
                             list(totals.values()))

    def expire(self, before_epoch: float) -> int:
        """Delete the minutes that start before `before_epoch`; how many rows were deleted."""
        with self._engine.begin() as conn:
            old = metric_minutes.c.minute < before_epoch
            return conn.execute(metric_minutes.delete().where(old)).rowcount

    # -- reads --------------------------------------------------------------------------------
    def series(self, function: str, since_epoch: float, until_epoch: float | None = None) -> list[dict]:
        """The stored minutes of `function` (or "ALL") from `since_epoch` on (until before `until_epoch`),
        oldest first; minutes without activity have no row."""
        c = metric_minutes.c
        query = (sa.select(c.minute, *[c[name] for name in VALUE_COLUMNS])
                 .where((c.function == function) & (c.minute >= since_epoch)).order_by(c.minute))
        if until_epoch is not None:
            query = query.where(c.minute < until_epoch)
        with self._engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def cost_totals(self, since_epoch: float | None = None) -> list[dict]:
        """Usage per function ({function, requests, errors, throttles, billed_ms, gb_seconds,
        gb_seconds_arm64, first_minute, last_minute}), ordered by name: lifetime totals, or with
        `since_epoch` summed from the minutes still kept from then on."""
        if since_epoch is None:
            query = sa.select(*metric_totals.columns).order_by(metric_totals.c.function)
        else:
            c = metric_minutes.c
            sums = [(whole_sum(c[source]) if isinstance(c[source].type, sa.Integer) else sa.func.sum(c[source]))
                    .label(column) for column, source in TOTALS_FROM.items()]
            query = (sa.select(c.function, *sums, sa.func.min(c.minute).label("first_minute"),
                               sa.func.max(c.minute).label("last_minute"))
                     .where((c.function != ALL) & (c.minute >= since_epoch))
                     .group_by(c.function).having(sa.or_(*[sum_ > 0 for sum_ in sums]))
                     .order_by(c.function))
        with self._engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]
