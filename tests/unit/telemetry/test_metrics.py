"""Metrics: Prometheus series with their labels and values, minute bucketing, flushing."""

from __future__ import annotations

import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lamina.telemetry.metrics import ALL, InvocationSample, Metrics, minute_of


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Writer:
    def __init__(self) -> None:
        self.batches: list[list[dict]] = []
        self.fail = False

    def __call__(self, rows: list[dict]) -> None:
        if self.fail:
            raise OSError("disk full")
        self.batches.append(rows)

    def rows(self) -> dict[tuple[str, int], dict]:
        return {(row["function"], row["minute"]): row for batch in self.batches for row in batch}


T0 = 1_700_000_040.0  # the start of a minute


def sample(**overrides) -> InvocationSample:
    values = dict(function="hello", version="$LATEST", alias=None, duration_ms=12.5, billed_ms=13, memory_mb=128,
                  init_ms=None, error=False, timestamp=T0 + 1)
    values.update(overrides)
    return InvocationSample(**values)


def samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    body, content_type = metrics.prometheus_text()
    assert content_type.startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def labels(function="hello", version="$LATEST", alias="", **extra) -> tuple:
    return tuple(sorted({"function": function, "version": version, "alias": alias, **extra}.items()))


@pytest.fixture
def writer() -> Writer:
    return Writer()


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + 5)


@pytest.fixture
def metrics(writer, clock) -> Metrics:
    return Metrics(write_minutes=writer, clock=clock)


def test_minute_of_floors_to_the_minute():
    assert minute_of(T0) == T0
    assert minute_of(T0 + 59.999) == T0
    assert minute_of(T0 + 60) == T0 + 60


def test_invocations_errors_and_durations_carry_function_version_and_alias(metrics):
    metrics.invocation(sample())
    metrics.invocation(sample(duration_ms=250.0, billed_ms=250, error=True))
    metrics.invocation(sample(version="3", alias="live", duration_ms=2.0, billed_ms=2, init_ms=80.0))
    found = samples(metrics)
    assert found[("lamina_invocations_total", labels())] == 2
    assert found[("lamina_errors_total", labels())] == 1
    assert found[("lamina_invocations_total", labels(version="3", alias="live"))] == 1
    assert found[("lamina_errors_total", labels(version="3", alias="live"))] == 0
    assert found[("lamina_duration_seconds_count", labels())] == 2
    assert found[("lamina_duration_seconds_sum", labels())] == pytest.approx(0.2625)
    assert found[("lamina_duration_seconds_bucket", labels(le="0.025"))] == 1
    assert found[("lamina_duration_seconds_bucket", labels(le="0.25"))] == 2
    assert found[("lamina_duration_seconds_bucket", labels(le="+Inf"))] == 2
    assert found[("lamina_init_duration_seconds_count", labels(version="3", alias="live"))] == 1
    assert found[("lamina_init_duration_seconds_sum", labels(version="3", alias="live"))] == pytest.approx(0.08)
    assert found[("lamina_init_duration_seconds_count", labels())] == 0
    # GB-seconds: 128 MB × (13 + 250 + 2) ms
    gb = found[("lamina_billed_gb_seconds_total", (("architecture", "x86_64"), ("function", "hello")))]
    assert gb == pytest.approx(0.125 * 0.265)
    assert not any(name.endswith("_created") for name, _ in found)


def test_throttles_concurrency_queue_and_dropped_events(metrics):
    metrics.throttle("hello", "$LATEST", None)
    metrics.throttle("hello", "$LATEST", None)
    metrics.concurrency("hello", 3)
    metrics.concurrency("other", 2)
    metrics.concurrency("hello", 1)
    metrics.queue(7, 42.5)
    metrics.dropped("other")
    found = samples(metrics)
    assert found[("lamina_throttles_total", labels())] == 2
    assert found[("lamina_concurrent_executions", (("function", "hello"),))] == 1
    assert found[("lamina_concurrent_executions", (("function", "other"),))] == 2
    assert found[("lamina_account_concurrent_executions", ())] == 3
    assert found[("lamina_async_queue_depth", ())] == 7
    assert found[("lamina_async_oldest_event_age_seconds", ())] == 42.5
    assert found[("lamina_async_dropped_events_total", (("function", "other"),))] == 1


def test_registries_are_per_instance(writer):
    first, second = Metrics(write_minutes=writer), Metrics(write_minutes=writer)
    first.invocation(sample())
    assert ("lamina_invocations_total", labels()) in samples(first)
    assert ("lamina_invocations_total", labels()) not in samples(second)


def test_minutes_are_bucketed_per_function_and_for_all(metrics, writer, clock):
    metrics.invocation(sample(timestamp=T0 + 1, duration_ms=10.0, billed_ms=10, memory_mb=1024))
    metrics.invocation(sample(timestamp=T0 + 59, duration_ms=30.0, billed_ms=30, memory_mb=1024, error=True,
                              init_ms=100.0))
    metrics.invocation(sample(timestamp=T0 + 61, duration_ms=5.0, billed_ms=5, memory_mb=512))
    metrics.invocation(sample(function="arm", timestamp=T0 + 2, duration_ms=1000.0, billed_ms=1000, memory_mb=2048,
                              architecture="arm64"))
    metrics.throttle("hello", "$LATEST", None)  # at the clock's time, T0 + 5
    metrics.dropped("arm")
    assert writer.batches == []  # nothing is written before a flush
    metrics.flush()
    rows = writer.rows()
    assert set(rows) == {("hello", T0), ("hello", T0 + 60), ("arm", T0), (ALL, T0), (ALL, T0 + 60)}
    first = rows[("hello", T0)]
    assert (first["invocations"], first["errors"], first["throttles"]) == (2, 1, 1)
    assert first["duration_ms_sum"] == 40.0 and first["duration_ms_max"] == 30.0
    assert first["billed_ms_sum"] == 40
    assert first["gb_seconds"] == pytest.approx(0.04) and first["gb_seconds_arm64"] == 0
    assert (first["cold_starts"], first["init_ms_sum"]) == (1, 100.0)
    assert rows[("hello", T0 + 60)]["gb_seconds"] == pytest.approx(0.0025)
    arm = rows[("arm", T0)]
    assert arm["gb_seconds"] == arm["gb_seconds_arm64"] == pytest.approx(2.0)
    assert arm["async_dropped"] == 1
    everyone = rows[(ALL, T0)]
    assert (everyone["invocations"], everyone["errors"], everyone["throttles"]) == (3, 1, 1)
    assert everyone["duration_ms_max"] == 1000.0 and everyone["async_dropped"] == 1
    assert everyone["gb_seconds"] == pytest.approx(2.04)
    assert [row["minute"] for row in writer.batches[0]] == sorted(row["minute"] for row in writer.batches[0])


def test_a_flush_writes_only_what_arrived_since_the_last_one(metrics, writer):
    metrics.invocation(sample())
    metrics.flush()
    metrics.flush()  # nothing new: no write at all
    assert len(writer.batches) == 1
    metrics.invocation(sample())
    metrics.flush()
    assert len(writer.batches) == 2
    assert {(row["function"], row["invocations"]) for row in writer.batches[1]} == {("hello", 1), (ALL, 1)}


def test_concurrency_max_per_minute_and_for_all(metrics, writer, clock):
    metrics.concurrency("hello", 4)
    metrics.concurrency("other", 3)   # ALL: 7 at once
    metrics.concurrency("hello", 0)
    metrics.flush()
    rows = writer.rows()
    assert rows[("hello", T0)]["concurrency_max"] == 4
    assert rows[("other", T0)]["concurrency_max"] == 3
    assert rows[(ALL, T0)]["concurrency_max"] == 7
    # A later minute with no change still records what is running through it.
    clock.now = T0 + 65
    writer.batches.clear()
    metrics.flush()
    rows = writer.rows()
    assert rows[("other", T0 + 60)]["concurrency_max"] == 3
    assert rows[(ALL, T0 + 60)]["concurrency_max"] == 3
    assert ("hello", T0 + 60) not in rows


def test_rows_that_fail_to_write_are_kept_for_the_next_flush(metrics, writer):
    metrics.invocation(sample(duration_ms=10.0))
    writer.fail = True
    metrics.flush()
    metrics.invocation(sample(duration_ms=20.0))
    writer.fail = False
    metrics.flush()
    rows = writer.rows()
    assert rows[("hello", T0)]["invocations"] == 2
    assert rows[("hello", T0)]["duration_ms_max"] == 20.0


def test_the_background_thread_flushes_and_expires(writer):
    expired: list[float] = []
    clock = Clock(T0)
    metrics = Metrics(write_minutes=writer, flush_interval=0.01, expire=expired.append, retention_days=1,
                      clock=clock)
    metrics.start()
    try:
        metrics.invocation(sample())
        for _ in range(500):
            if writer.batches and expired:
                break
            threading.Event().wait(0.01)
        assert writer.rows()[("hello", T0)]["invocations"] == 1
        assert expired[0] == T0 - 86_400
    finally:
        metrics.close()


def test_close_writes_what_is_left(writer):
    metrics = Metrics(write_minutes=writer, flush_interval=3600)
    metrics.start()
    metrics.invocation(sample())
    metrics.close()
    assert writer.rows()[("hello", T0)]["invocations"] == 1
    # Closing a Metrics that never started just flushes.
    other = Metrics(write_minutes=writer)
    other.invocation(sample(function="other"))
    other.close()
    assert writer.rows()[("other", T0)]["invocations"] == 1


# -- backlog per function: async queue depth and age, stream iterator age -------------------------
@pytest.mark.parametrize(("samples_", "expected"), [
    # each sample: (total depth, oldest age s, {function: (held, age s)}); expected (function, depth, age ms)
    ([(3, 2.0, {"f": (2, 2.0), "g": (1, 0.5)})], {("f", 2, 2000.0), ("g", 1, 500.0), (ALL, 3, 2000.0)}),
    ([(3, 2.0, {"f": (3, 2.0)}), (1, 9.0, {"f": (1, 9.0)})], {("f", 3, 9000.0), (ALL, 3, 9000.0)}),  # maxima
    ([(0, 0.0, {})], {(ALL, 0, 0.0)}),
])
def test_queue_samples_keep_the_largest_depth_and_age_per_function_and_minute(metrics, writer, samples_, expected):
    for depth, age, per_function in samples_:
        metrics.queue(depth, age, per_function)
    metrics.flush()
    assert {(row["function"], row["async_depth_max"], row["async_age_ms_max"])
            for row in writer.rows().values()} == expected


def test_queue_without_per_function_figures_still_sets_the_gauges(metrics):
    metrics.queue(4, 1.5)
    found = samples(metrics)
    assert found[("lamina_async_queue_depth", ())] == 4
    assert found[("lamina_async_oldest_event_age_seconds", ())] == 1.5


def test_iterator_age_is_kept_per_function_minute_and_mapping(metrics, writer, clock):
    metrics.iterator_age("uuid-1", 250.0, "f")
    metrics.iterator_age("uuid-1", 100.0, "f")
    clock.now = T0 + 65
    metrics.iterator_age("uuid-2", 40.0, "g")
    metrics.iterator_age("uuid-3", 7.0)  # no function: the gauge only
    metrics.flush()
    rows = writer.rows()
    assert rows[("f", T0)]["iterator_age_ms_max"] == 250.0
    assert rows[(ALL, T0)]["iterator_age_ms_max"] == 250.0
    assert rows[("g", T0 + 60)]["iterator_age_ms_max"] == 40.0
    assert rows[(ALL, T0 + 60)]["iterator_age_ms_max"] == 40.0
    assert samples(metrics)[("lamina_mapping_iterator_age_milliseconds", (("mapping", "uuid-1"),))] == 100.0
    assert samples(metrics)[("lamina_mapping_iterator_age_milliseconds", (("mapping", "uuid-3"),))] == 7.0


def test_hot_path_updates_keep_the_time_they_were_made_at(metrics, writer, clock):
    """invocation/throttle/concurrency are applied later, in order, with the clock of the call."""
    metrics.concurrency("hello", 2)  # at T0 + 5
    clock.now = T0 + 65
    metrics.concurrency("hello", 0)  # the next minute
    metrics.throttle("hello", "$LATEST", None)
    clock.now = T0 + 70
    metrics.flush()
    rows = writer.rows()
    assert rows[("hello", T0)]["concurrency_max"] == 2 and rows[("hello", T0)]["throttles"] == 0
    assert rows[("hello", T0 + 60)]["throttles"] == 1
    assert samples(metrics)[("lamina_concurrent_executions", (("function", "hello"),))] == 0


def test_hot_path_updates_past_the_limit_are_applied_by_the_caller(metrics, monkeypatch):
    import lamina.telemetry.metrics as module

    monkeypatch.setattr(module, "HOT_LIMIT", 3)
    for _ in range(4):
        metrics.invocation(sample())
    assert not metrics._hot  # applied without a reader or the flush thread
    assert samples(metrics)[("lamina_invocations_total", labels())] == 4
