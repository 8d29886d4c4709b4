"""MetricStore on a real SQLite database: accumulate, series, cost totals, expiry."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lamina.store.database import open_database
from lamina.store.metrics import MetricStore

M0 = 1_700_000_040  # the start of a minute


def row(function: str, minute: int, **values) -> dict:
    return {"function": function, "minute": minute, **values}


@pytest.fixture
def metric_store(db_url) -> MetricStore:
    engine = open_database(db_url)
    yield MetricStore(engine)
    engine.dispose()


def test_rows_accumulate_per_function_and_minute(metric_store):
    metric_store.add_minutes([row("f", M0, invocations=2, errors=1, duration_ms_sum=30.0, duration_ms_max=20.0,
                                  billed_ms_sum=31, gb_seconds=0.5, concurrency_max=2, cold_starts=1,
                                  init_ms_sum=90.0)])
    metric_store.add_minutes([row("f", M0, invocations=3, throttles=4, duration_ms_sum=15.0, duration_ms_max=10.0,
                                  billed_ms_sum=16, gb_seconds=0.25, gb_seconds_arm64=0.25, concurrency_max=5,
                                  async_dropped=1)])
    [stored] = metric_store.series("f", M0)
    assert stored["minute"] == M0
    assert (stored["invocations"], stored["errors"], stored["throttles"]) == (5, 1, 4)
    assert stored["duration_ms_sum"] == 45.0
    assert stored["duration_ms_max"] == 20.0  # maxima keep the larger value
    assert stored["concurrency_max"] == 5
    assert stored["billed_ms_sum"] == 47
    assert stored["gb_seconds"] == pytest.approx(0.75) and stored["gb_seconds_arm64"] == pytest.approx(0.25)
    assert (stored["cold_starts"], stored["init_ms_sum"], stored["async_dropped"]) == (1, 90.0, 1)


def test_one_batch_may_hold_the_same_minute_twice(metric_store):
    metric_store.add_minutes([row("f", M0, invocations=1, duration_ms_max=3.0),
                              row("f", M0, invocations=2, duration_ms_max=7.0)])
    [stored] = metric_store.series("f", M0)
    assert (stored["invocations"], stored["duration_ms_max"]) == (3, 7.0)


def test_series_is_per_function_oldest_first_and_bounded(metric_store):
    metric_store.add_minutes([row("f", M0 + 120, invocations=3), row("f", M0, invocations=1), row("g", M0, invocations=9),
                       row("ALL", M0, invocations=10), row("f", M0 + 60, invocations=2)])
    assert [(r["minute"], r["invocations"]) for r in metric_store.series("f", M0)] == [
        (M0, 1), (M0 + 60, 2), (M0 + 120, 3)]
    assert [r["minute"] for r in metric_store.series("f", M0 + 60)] == [M0 + 60, M0 + 120]
    assert [r["minute"] for r in metric_store.series("f", M0, M0 + 120)] == [M0, M0 + 60]
    assert [r["invocations"] for r in metric_store.series("ALL", 0)] == [10]
    assert metric_store.series("nobody", 0) == []


def test_cost_totals_are_lifetime_sums_without_all(metric_store):
    metric_store.add_minutes([row("f", M0, invocations=2, errors=1, billed_ms_sum=200, gb_seconds=0.2),
                       row("ALL", M0, invocations=3, billed_ms_sum=1200, gb_seconds=2.2),
                       row("g", M0, invocations=1, billed_ms_sum=1000, gb_seconds=2.0, gb_seconds_arm64=2.0)])
    metric_store.add_minutes([row("f", M0 + 600, invocations=1, throttles=2, billed_ms_sum=100, gb_seconds=0.1),
                       row("idle", M0 + 600, concurrency_max=1)])  # no usage: no totals row
    totals = {t["function"]: t for t in metric_store.cost_totals()}
    assert set(totals) == {"f", "g"}
    f = totals["f"]
    assert (f["requests"], f["errors"], f["throttles"], f["billed_ms"]) == (3, 1, 2, 300)
    assert f["gb_seconds"] == pytest.approx(0.3) and f["gb_seconds_arm64"] == 0
    assert (f["first_minute"], f["last_minute"]) == (M0, M0 + 600)
    assert totals["g"]["gb_seconds_arm64"] == pytest.approx(2.0)
    # A window sums the minutes still kept from then on.
    recent = {t["function"]: t for t in metric_store.cost_totals(M0 + 60)}
    assert set(recent) == {"f"}
    assert (recent["f"]["requests"], recent["f"]["billed_ms"]) == (1, 100)
    assert recent["f"]["first_minute"] == recent["f"]["last_minute"] == M0 + 600
    # Counts come back as ints whatever the database (PostgreSQL sums BIGINT as NUMERIC): JSON carries them.
    assert {type(recent["f"][name]) for name in ("requests", "errors", "throttles", "billed_ms")} == {int}


def test_expire_deletes_old_minutes_but_keeps_lifetime_totals(metric_store):
    metric_store.add_minutes([row("f", M0, invocations=1, gb_seconds=1.0), row("ALL", M0, invocations=1),
                       row("f", M0 + 60, invocations=2, gb_seconds=2.0), row("ALL", M0 + 60, invocations=2)])
    assert metric_store.expire(M0 + 60) == 2
    assert [r["minute"] for r in metric_store.series("f", 0)] == [M0 + 60]
    assert [r["minute"] for r in metric_store.series("ALL", 0)] == [M0 + 60]
    assert metric_store.expire(M0 + 60) == 0
    [f] = metric_store.cost_totals()
    assert f["requests"] == 3 and f["gb_seconds"] == pytest.approx(3.0)


def test_the_store_is_the_writer_of_a_metrics_instance(metric_store):
    from lamina.telemetry.metrics import InvocationSample, Metrics

    metrics = Metrics(write_minutes=metric_store.add_minutes, expire=metric_store.expire)
    metrics.invocation(InvocationSample("f", "$LATEST", None, 10.0, 10, 1024, None, False, timestamp=M0 + 1))
    metrics.flush()
    metrics.invocation(InvocationSample("f", "$LATEST", None, 20.0, 20, 1024, None, True, timestamp=M0 + 2))
    metrics.close()
    [stored] = metric_store.series("f", M0)
    assert (stored["invocations"], stored["errors"], stored["billed_ms_sum"]) == (2, 1, 30)
    assert metric_store.cost_totals()[0]["gb_seconds"] == pytest.approx(0.03)


def test_minutes_stored_before_0072_read_with_a_zero_backlog(empty_db_url):
    """Migration 0072 adds the backlog columns to existing minutes as 0; new rows then merge by maximum."""
    from alembic import command
    from alembic.config import Config

    from lamina.store.database import MIGRATIONS, migrate, normalise

    engine = sa.create_engine(normalise(empty_db_url))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0060")
        connection.execute(sa.text("INSERT INTO metric_minutes (function, minute, invocations, errors, throttles, "
                                   "duration_ms_sum, duration_ms_max, billed_ms_sum, gb_seconds, gb_seconds_arm64, "
                                   "cold_starts, init_ms_sum, async_dropped, concurrency_max) "
                                   "VALUES ('f', 60, 2, 0, 0, 1.0, 1.0, 2, 0.1, 0, 0, 0, 0, 1)"))
    migrate(engine)
    metric_store = MetricStore(engine)
    assert [(r["invocations"], r["async_depth_max"], r["iterator_age_ms_max"]) for r in metric_store.series("f", 0)] == [
        (2, 0, 0)]
    metric_store.add_minutes([row("f", 60, async_depth_max=3, async_age_ms_max=50.0, iterator_age_ms_max=9.0)])
    metric_store.add_minutes([row("f", 60, async_depth_max=1, async_age_ms_max=80.0)])
    stored = metric_store.series("f", 0)[0]
    assert (stored["async_depth_max"], stored["async_age_ms_max"], stored["iterator_age_ms_max"]) == (3, 80.0, 9.0)
    engine.dispose()
