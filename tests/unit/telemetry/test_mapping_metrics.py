"""Per-mapping metrics land in the registry /metrics serves."""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry

from lamina.telemetry.mapping_metrics import MappingMetrics


def test_batches_records_errors_and_backlog():
    registry = CollectorRegistry()
    metrics = MappingMetrics(registry)
    metrics.batch("u1", "f", 10, 0)
    metrics.batch("u1", "f", 4, 2)
    metrics.backlog("u1", "f", 37)
    text = prometheus_client.generate_latest(registry).decode()
    assert 'lamina_mapping_batches_total{function="f",mapping="u1"} 2.0' in text
    assert 'lamina_mapping_records_total{function="f",mapping="u1"} 14.0' in text
    assert 'lamina_mapping_failed_records_total{function="f",mapping="u1"} 2.0' in text
    assert 'lamina_mapping_backlog{function="f",mapping="u1"} 37.0' in text
