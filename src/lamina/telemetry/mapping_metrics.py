"""Per event source mapping metrics, in the same Prometheus registry as the invocation metrics
(served at /metrics): batches and records delivered, records that failed, and the source's
backlog (SQS ApproximateNumberOfMessages). The streams pollers add IteratorAge beside them.

Fed by the pollers through `batch` and `backlog` (a few dictionary updates). Imports nothing from
lamina.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

LABELS = ("mapping", "function")


class MappingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._batches = Counter("lamina_mapping_batches", "Batches an event source mapping delivered.",
                                LABELS, registry=registry)
        self._records = Counter("lamina_mapping_records", "Records an event source mapping delivered.",
                                LABELS, registry=registry)
        self._errors = Counter("lamina_mapping_failed_records",
                               "Records whose batch (or item) failed and will be retried by the source's rules.",
                               LABELS, registry=registry)
        self._backlog = Gauge("lamina_mapping_backlog", "Records waiting in the source (SQS "
                              "ApproximateNumberOfMessages).", LABELS, registry=registry)
        self._children: dict[tuple[str, str], tuple] = {}

    def _series(self, mapping: str, function: str) -> tuple:
        key = (mapping, function)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = tuple(
                metric.labels(*key) for metric in (self._batches, self._records, self._errors, self._backlog))
        return children

    def batch(self, mapping: str, function: str, records: int, failed: int) -> None:
        batches, delivered, errors, _ = self._series(mapping, function)
        batches.inc()
        delivered.inc(records)
        if failed:
            errors.inc(failed)

    def backlog(self, mapping: str, function: str, waiting: int) -> None:
        self._series(mapping, function)[3].set(waiting)
