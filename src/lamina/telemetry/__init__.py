"""Telemetry: the log buffer that carries function logs to storage off the hot path, metrics
(Prometheus, per-minute series, cost) and traces (OpenTelemetry spans over OTLP).

Must not import lamina.store, lamina.engine, lamina.control or lamina.api: it is handed the
writer it flushes to.
"""
