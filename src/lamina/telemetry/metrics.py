"""Invocation metrics: Prometheus series per function, version and alias, and per-minute rows for graphs.

`Metrics` is fed from the data plane (`invocation`, `throttle`, `concurrency`, `queue`, `dropped`).
The three every invoke makes (`invocation`, `throttle`, `concurrency`) cost one deque append on the
hot path: they are applied to the series and rows in order, in one pass, by whoever reads or
writes them next (the exposition, `pending`, the flush thread every `flush_interval`, or the caller
once HOT_LIMIT wait). It keeps two views:
- Prometheus counters, histograms and gauges in a registry of its own (`prometheus_text`);
- per-minute rows per function and for "ALL", accumulated in memory and handed to `write_minutes`
  by a background thread every `flush_interval` seconds (the writer upserts, adding to what a
  minute already holds), with old minutes expired through `expire` once an hour.

Imports nothing from lamina but lamina.telemetry and lamina.model (ALL): the writer and the expiry are callables it is handed.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from lamina.model import ALL
from lamina.telemetry.cost import gb_seconds

log = logging.getLogger("lamina.telemetry.metrics")

CONTENT_TYPE = prometheus_client.exposition.CONTENT_TYPE_PLAIN_0_0_4
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    300.0, 900.0)
INIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LABELS = ("function", "version", "alias")
EXPIRE_EVERY_S = 3600.0
# The columns of a minute row besides its key (function, minute); *_max merge by maximum, the rest add up.
SUM_FIELDS = ("invocations", "errors", "throttles", "duration_ms_sum", "billed_ms_sum", "gb_seconds",
              "gb_seconds_arm64", "cold_starts", "init_ms_sum", "async_dropped")
MAX_FIELDS = ("duration_ms_max", "concurrency_max", "async_depth_max", "async_age_ms_max", "iterator_age_ms_max")
FIELDS = SUM_FIELDS + MAX_FIELDS
HOT_LIMIT = 100_000  # hot-path updates waiting to be applied before the caller applies them itself
_INVOCATION, _THROTTLE, _CONCURRENCY = 0, 1, 2

prometheus_client.disable_created_metrics()  # no `*_created` series: they only add noise to every scrape


@dataclass(slots=True)  # built per invoke: not frozen (a frozen one's init costs µs)
class InvocationSample:
    """One finished invocation, as the engine reported it."""

    function: str
    version: str
    alias: str | None
    duration_ms: float
    billed_ms: int
    memory_mb: int
    init_ms: float | None
    error: bool
    architecture: str = "x86_64"
    timestamp: float = field(default_factory=time.time)


def minute_of(timestamp: float) -> int:
    """The epoch second that starts the minute `timestamp` falls in."""
    return int(timestamp // 60) * 60


def empty_minute(function: str, minute: int) -> dict:
    row: dict = {"function": function, "minute": minute}
    row.update(dict.fromkeys(FIELDS, 0))
    return row


def merge_minute(into: dict, row: dict) -> None:
    """Add `row`'s counts to `into` (same function and minute): sums add, maxima keep the larger."""
    for name in SUM_FIELDS:
        into[name] += row[name]
    for name in MAX_FIELDS:
        if row[name] > into[name]:
            into[name] = row[name]


def stamp_max(row: dict, **samples: float) -> None:
    """Keep in `row` the larger of each sample and what the minute already holds."""
    for name, value in samples.items():
        if value > row[name]:
            row[name] = value


class Metrics:
    def __init__(self, *, write_minutes: Callable[[list[dict]], None], flush_interval: float = 5.0,
                 expire: Callable[[float], object] | None = None, retention_days: float = 14.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._write = write_minutes
        self._interval = flush_interval
        self._expire = expire
        self.retention_s = retention_days * 86_400.0
        self._clock = clock
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._minutes: dict[tuple[str, int], dict] = {}
        self._running: dict[str, int] = {}
        self._running_total = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_expiry = 0.0

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._invocations = Counter("lamina_invocations", "Invocations that ran (CloudWatch Invocations).",
                                    LABELS, registry=r)
        self._errors = Counter("lamina_errors", "Invocations that ended in a function error (CloudWatch "
                               "Errors).", LABELS, registry=r)
        self._throttles = Counter("lamina_throttles", "Invocations refused for concurrency (CloudWatch "
                                  "Throttles).", LABELS, registry=r)
        self._duration = Histogram("lamina_duration_seconds", "Time the handler ran (CloudWatch Duration).",
                                   LABELS, buckets=DURATION_BUCKETS, registry=r)
        self._init = Histogram("lamina_init_duration_seconds", "Init phase of cold starts (Init Duration).",
                               LABELS, buckets=INIT_BUCKETS, registry=r)
        self._gb_seconds = Counter("lamina_billed_gb_seconds", "Billed duration times memory, in GB-seconds.",
                                   ("function", "architecture"), registry=r)
        self._concurrent = Gauge("lamina_concurrent_executions",
                                 "Invocations running now (CloudWatch ConcurrentExecutions).", ("function",),
                                 registry=r)
        self._account_concurrent = Gauge("lamina_account_concurrent_executions",
                                         "Invocations running now over every function.", registry=r)
        self._queue_depth = Gauge("lamina_async_queue_depth", "Asynchronous events waiting or running.",
                                  registry=r)
        self._queue_age = Gauge("lamina_async_oldest_event_age_seconds",
                                "Age of the oldest queued asynchronous event (AsyncEventAge).", registry=r)
        self._iterator_age = Gauge("lamina_mapping_iterator_age_milliseconds",
                                   "Age of the last record a stream mapping read (CloudWatch IteratorAge).",
                                   ("mapping",), registry=r)
        self._dropped = Counter("lamina_async_dropped_events",
                                "Asynchronous events dropped without a successful run (AsyncEventsDropped).",
                                ("function",), registry=r)
        self._signature_errors = Counter("lamina_signature_validation_errors",
                                         "Code deployments with a signature validation error "
                                         "(SignatureValidationErrors).", ("function",), registry=r)
        # Label children cached per key: `.labels()` validates and hashes on every call.
        self._children: dict[tuple[str, str, str], tuple] = {}
        self._cost_children: dict[tuple[str, str], object] = {}
        self._gauges: dict[str, object] = {}
        # the hot path's updates, in order, not applied yet (appends and pops are atomic)
        self._hot: collections.deque[tuple] = collections.deque()
        self._apply_lock = threading.Lock()

    # -- hot path -----------------------------------------------------------------------------
    def _series(self, function: str, version: str, alias: str | None) -> tuple:
        key = (function, version, alias or "")
        children = self._children.get(key)
        if children is None:
            children = tuple(metric.labels(*key) for metric in (
                self._invocations, self._errors, self._throttles, self._duration, self._init))
            self._children[key] = children
        return children

    def _rows(self, function: str, timestamp: float) -> tuple[dict, dict]:
        """The pending minute rows of `function` and of ALL (call with the lock held)."""
        minute = minute_of(timestamp)
        rows = self._minutes
        mine = rows.get((function, minute))
        if mine is None:
            mine = rows[(function, minute)] = empty_minute(function, minute)
        everyone = rows.get((ALL, minute))
        if everyone is None:
            everyone = rows[(ALL, minute)] = empty_minute(ALL, minute)
        return mine, everyone

    def _row(self, function: str, timestamp: float) -> dict:
        """The pending minute row of `function` alone (call with the lock held)."""
        key = (function, minute_of(timestamp))
        row = self._minutes.get(key)
        if row is None:
            row = self._minutes[key] = empty_minute(function, key[1])
        return row

    def invocation(self, sample: InvocationSample) -> None:
        """Count one finished invocation."""
        hot = self._hot
        hot.append((_INVOCATION, sample))
        if len(hot) > HOT_LIMIT:
            self.apply()

    def throttle(self, function: str, version: str, alias: str | None) -> None:
        """Count one invocation refused with TooManyRequestsException."""
        self._defer((_THROTTLE, function, version, alias, self._clock()))

    def concurrency(self, function: str, running: int) -> None:
        """The number of invocations of `function` running now (call it whenever that changes)."""
        hot = self._hot  # `_defer`, inlined: twice per invoke
        hot.append((_CONCURRENCY, function, running, self._clock()))
        if len(hot) > HOT_LIMIT:
            self.apply()

    def _defer(self, update: tuple) -> None:
        """Queue a hot-path update; past HOT_LIMIT waiting, the caller applies them itself."""
        self._hot.append(update)
        if len(self._hot) > HOT_LIMIT:
            self.apply()

    def apply(self) -> None:
        """Apply the hot path's waiting updates to the series and minute rows, in order (any thread).
        The minute rows take them one by one, under one hold of the lock; the Prometheus series
        after it, folded: counters and histograms add up in any order, and a gauge ends at its
        last value (each concurrency update used to set two gauges under two locks)."""
        hot = self._hot
        if not hot:
            return
        with self._apply_lock:
            items = []
            while True:
                try:
                    items.append(hot.popleft())
                except IndexError:
                    break
            if items:
                self._apply_all(items)

    def _apply_all(self, items: list[tuple]) -> None:
        invocations: list[tuple[InvocationSample, float]] = []
        throttles: list[tuple] = []
        gauges: dict[str, int] = {}
        with self._lock:
            running_of = self._running
            total = self._running_total
            for item in items:
                kind = item[0]
                if kind == _CONCURRENCY:
                    _, function, running, now = item
                    total += running - running_of.get(function, 0)
                    if running:
                        running_of[function] = running
                    else:
                        running_of.pop(function, None)
                    gauges[function] = running
                    self._stamp_concurrency(function, running, total, now)
                elif kind == _INVOCATION:
                    sample = item[1]
                    invocations.append((sample, self._count_invocation(sample)))
                else:
                    throttles.append(item)
                    for row in self._rows(item[1], item[4]):
                        row["throttles"] += 1
            self._running_total = total
        if invocations:
            self._observe_invocations(invocations)
        for _, function, version, alias, _ in throttles:
            self._series(function, version, alias)[2].inc()
        if gauges:
            for function, running in gauges.items():
                gauge = self._gauges.get(function)
                if gauge is None:
                    gauge = self._gauges[function] = self._concurrent.labels(function)
                gauge.set(running)
            self._account_concurrent.set(total)

    def _count_invocation(self, sample: InvocationSample) -> float:
        """Add one invocation to its minute rows (call with the lock held); its GB-seconds."""
        gbs = gb_seconds(sample.billed_ms, sample.memory_mb)
        arm = sample.architecture == "arm64"
        for row in self._rows(sample.function, sample.timestamp):
            row["invocations"] += 1
            row["errors"] += sample.error
            row["duration_ms_sum"] += sample.duration_ms
            if sample.duration_ms > row["duration_ms_max"]:
                row["duration_ms_max"] = sample.duration_ms
            row["billed_ms_sum"] += sample.billed_ms
            row["gb_seconds"] += gbs
            if arm:
                row["gb_seconds_arm64"] += gbs
            if sample.init_ms is not None:
                row["cold_starts"] += 1
                row["init_ms_sum"] += sample.init_ms
        return gbs

    def _observe_invocations(self, invocations: list[tuple[InvocationSample, float]]) -> None:
        """Add invocations to their Prometheus series: each duration and cost added, the counts once per series."""
        counts: dict[tuple, list] = {}  # series -> [invocations, errors]
        for sample, gbs in invocations:
            series = self._series(sample.function, sample.version, sample.alias)
            count = counts.get(series)
            if count is None:
                count = counts[series] = [0, 0]
            count[0] += 1
            count[1] += sample.error
            series[3].observe(sample.duration_ms / 1000.0)
            if sample.init_ms is not None:
                series[4].observe(sample.init_ms / 1000.0)
            cost_key = (sample.function, sample.architecture)
            cost = self._cost_children.get(cost_key)
            if cost is None:
                cost = self._cost_children[cost_key] = self._gb_seconds.labels(*cost_key)
            cost.inc(gbs)  # one by one: a float total must not depend on how the samples were batched
        for (invocations_, errors, _, _, _), (count, failed) in counts.items():
            invocations_.inc(count)
            if failed:
                errors.inc(failed)

    def _stamp_concurrency(self, function: str, running: int, total: int, now: float) -> None:
        mine, everyone = self._rows(function, now)
        if running > mine["concurrency_max"]:
            mine["concurrency_max"] = running
        if total > everyone["concurrency_max"]:
            everyone["concurrency_max"] = total

    def queue(self, depth: int, oldest_age_s: float, per_function: dict[str, tuple[int, float]] | None = None) -> None:
        """The asynchronous queue's backlog: events held and the age of the oldest one, in all and per
        function ({function: (events held, oldest age in seconds)}, functions without a backlog left out).
        The minute rows keep the largest sample of each minute (`async_depth_max`, `async_age_ms_max`)."""
        self._queue_depth.set(depth)
        self._queue_age.set(oldest_age_s)
        with self._lock:
            now = self._clock()
            for function, (held, age_s) in (per_function or {}).items():
                stamp_max(self._row(function, now), async_depth_max=held, async_age_ms_max=age_s * 1000.0)
            stamp_max(self._row(ALL, now), async_depth_max=depth, async_age_ms_max=oldest_age_s * 1000.0)

    def iterator_age(self, mapping_uuid: str, milliseconds: float, function: str | None = None) -> None:
        """The age of the last record a stream mapping read (of `function`, when given: its minute rows
        and ALL's keep the minute's largest, `iterator_age_ms_max`)."""
        self._iterator_age.labels(mapping_uuid).set(milliseconds)
        if function:
            with self._lock:
                for row in self._rows(function, self._clock()):
                    stamp_max(row, iterator_age_ms_max=milliseconds)

    def dropped(self, function: str) -> None:
        """Count one asynchronous event dropped (too old, retries exhausted, function gone)."""
        self._dropped.labels(function).inc()
        with self._lock:
            for row in self._rows(function, self._clock()):
                row["async_dropped"] += 1

    def signature_validation_error(self, function: str) -> None:
        """Count one deployment whose code signature failed validation (refused or warned)."""
        self._signature_errors.labels(function).inc()

    # -- reading ------------------------------------------------------------------------------
    def prometheus_text(self) -> tuple[bytes, str]:
        """The Prometheus exposition of every series: (body, content type)."""
        # Every name here is a classic one, so the body is the 0.0.4 text format every Prometheus reads.
        self.apply()
        return prometheus_client.generate_latest(self.registry), CONTENT_TYPE

    def pending(self) -> list[dict]:
        """Copies of the minute rows not written yet (for tests and diagnostics)."""
        self.apply()
        with self._lock:
            return [dict(row) for row in self._minutes.values()]

    # -- writing ------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write the buffered minute rows now (from any thread); rows that fail to write are kept."""
        self.apply()
        with self._flush_lock:
            now = self._clock()
            with self._lock:
                # Invocations running through a whole minute still count toward its concurrency.
                for function, running in self._running.items():
                    self._stamp_concurrency(function, running, self._running_total, now)
                rows, self._minutes = self._minutes, {}
            if not rows:
                return
            batch = sorted(rows.values(), key=lambda row: (row["minute"], row["function"]))
            try:
                self._write(batch)
            except Exception:
                log.exception("could not store %d metric minutes; keeping them for the next flush",
                              len(batch))
                with self._lock:
                    for key, row in rows.items():
                        newer = self._minutes.get(key)
                        if newer is not None:
                            merge_minute(row, newer)
                        self._minutes[key] = row

    def expire_old(self) -> None:
        """Delete stored minutes older than the retention (when an `expire` callable was given)."""
        if self._expire is None:
            return
        self._last_expiry = self._clock()
        try:
            self._expire(self._last_expiry - self.retention_s)
        except Exception:
            log.exception("could not expire old metric minutes")

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()
            if self._expire is not None and self._clock() - self._last_expiry >= EXPIRE_EVERY_S:
                self.expire_old()
        self.flush()

    def start(self) -> None:
        """Start the background thread that flushes every `flush_interval` seconds."""
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._loop, name="lamina-metrics", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the background thread after a last flush (or just flush when it never started)."""
        thread, self._thread = self._thread, None
        if thread is None:
            self.flush()
            return
        self._stopping = True
        self._wake.set()
        thread.join(timeout=10)
