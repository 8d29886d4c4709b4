"""The execution engine: sandboxed environments, per-version pools, concurrency.

Must not import lamina.store, lamina.control, lamina.api or lamina.invoke: it is handed a
RunSpec and returns results.
"""
