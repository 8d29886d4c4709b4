"""Telemetry: the off-hot-path buffer that carries function logs to storage (metrics and traces later).

Must not import lamina.store, lamina.engine, lamina.control or lamina.api: it is handed the
writer it flushes to.
"""
