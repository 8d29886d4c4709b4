"""The execution engine: sandboxed environments, per-version pools, concurrency.

Must not import lamina.store, lamina.control, lamina.api, lamina.invoke, lamina.queue or
lamina.pollers (import-linter checks it): it is handed a RunSpec and returns results.
"""
