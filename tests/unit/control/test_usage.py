"""lamina.control.usage: zero-filled minute series and the cost report, read from the metric store."""

from __future__ import annotations

import pytest

from lamina.control.usage import Usage, zero_filled
from lamina.store.database import open_database
from lamina.store.metrics import MetricStore
from lamina.telemetry.metrics import FIELDS, InvocationSample, Metrics

T0 = 1_700_000_040  # the start of a minute


def row(minute: int, **counts) -> dict:
    return {"function": "f", "minute": minute, **dict.fromkeys(FIELDS, 0), **counts}


@pytest.mark.parametrize(("stored", "count", "invocations"), [
    ([], 3, [0, 0, 0]),
    ([row(T0, invocations=2)], 3, [2, 0, 0]),
    ([row(T0 + 120, invocations=5)], 3, [0, 0, 5]),
    ([row(T0 + 60, invocations=1), row(T0 + 120, invocations=4)], 3, [0, 1, 4]),
    ([row(T0 - 60, invocations=9), row(T0 + 180, invocations=9)], 3, [0, 0, 0]),  # outside the window
    ([row(T0, invocations=7)], 1, [7]),
])
def test_zero_filled_has_one_entry_per_minute(stored, count, invocations):
    series = zero_filled("f", stored, T0, count)
    assert [entry["minute"] for entry in series] == [T0 + 60 * i for i in range(count)]
    assert [entry["invocations"] for entry in series] == invocations
    assert all(set(entry) == {"minute", *FIELDS} for entry in series)


def test_zero_filled_accepts_minutes_stored_as_text():
    assert zero_filled("f", [row(str(T0), errors=3)], T0, 1)[0]["errors"] == 3


@pytest.fixture
def usage(db_url):
    engine = open_database(db_url)
    store = MetricStore(engine)
    metrics = Metrics(write_minutes=store.add_minutes, expire=store.expire, flush_interval=3600)
    now = [T0 + 150.0]
    yield Usage(metrics, store, clock=lambda: now[0]), metrics
    engine.dispose()


def sample(function: str, at: float) -> InvocationSample:
    return InvocationSample(function, "$LATEST", None, 10.0, 10, 1024, None, False, timestamp=at)


def test_series_flush_the_buffer_and_end_with_the_current_minute(usage):
    reader, metrics = usage
    metrics.invocation(sample("f", T0 + 5))
    metrics.invocation(sample("g", T0 + 125))
    read = reader.series("f", 3)
    assert (read.function, read.minutes) == ("f", 3)
    assert [(e["minute"], e["invocations"]) for e in read.series] == [(T0, 1), (T0 + 60, 0), (T0 + 120, 0)]
    every = reader.series(None, 2)
    assert every.function == "ALL"
    assert [e["invocations"] for e in every.series] == [0, 1]


def test_cost_over_a_window_or_the_whole_history(usage):
    reader, metrics = usage
    metrics.invocation(sample("f", T0 - 600))
    metrics.invocation(sample("f", T0 + 130))
    whole = reader.cost(None)
    recent = reader.cost(1)
    assert whole["totals"]["requests"] == 2 and recent["totals"]["requests"] == 1
    assert recent["since"] == T0 + 120 and whole["since"] == T0 - 600


def test_retention_in_minutes_is_at_least_one(usage):
    reader, metrics = usage
    assert reader.retention_minutes == int(metrics.retention_s // 60)


def test_series_carry_the_backlog_per_function_zero_filled(usage):
    reader, metrics = usage
    metrics._clock = lambda: T0 + 70  # noqa: SLF001 - the sample's minute
    metrics.queue(5, 3.0, {"f": (4, 3.0), "g": (1, 1.0)})
    metrics.iterator_age("uuid", 1200.0, "f")
    read = reader.series("f", 3)
    assert [(e["async_depth_max"], e["async_age_ms_max"], e["iterator_age_ms_max"]) for e in read.series] == [
        (0, 0, 0), (4, 3000.0, 1200.0), (0, 0, 0)]
    assert [e["async_depth_max"] for e in reader.series(None, 3).series] == [0, 5, 0]
    assert [e["async_depth_max"] for e in reader.series("g", 3).series] == [0, 1, 0]
