"""The control plane: one method per API operation over the store.

Must not import lamina.engine, lamina.invoke or lamina.api; it announces changes by publishing
typed lamina.events through a `publish` callable that lamina.server wires to the bus.
"""
