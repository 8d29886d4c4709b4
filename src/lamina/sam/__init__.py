"""SAM templates on the client side: reading them, building their code, deploying them through lamina's public API.

A client of lamina like the aws CLI: it never imports the server's parts (import-linter checks it).
"""
