"""The control plane: one method per API operation over the store.

Must not import lamina.engine, lamina.invoke or lamina.api; it announces changes through
callables that lamina.server wires.
"""
