"""The durable asynchronous queue: accepted Event invocations, retries, destinations.

`queue.Queue` is the protocol (SQL implementation in `sql.py`), `worker.EventQueue` runs events
through a `run` callable it is handed, `policy` decides. Imports lamina.store (sql.py
only) and lamina.model; never the engine, control or the HTTP layer.
"""
