"""Event source pollers (level 3, beside the queue): one module per source kind, each handed an
`invoke` callable and a checkpoint store.

Empty until event source mappings land; the import-linter contracts for it exist already. Must not
import lamina.engine or lamina.store (they are reached through the callables it is handed), nor
lamina.api, lamina.invoke or lamina.server.
"""
