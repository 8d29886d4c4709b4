"""The managed Python runtime: `bootstrap.py` runs inside the sandbox under the function's own
interpreter (which may not have lamina installed) and speaks the engine's frame protocol.
Imports nothing from lamina; its helper modules are loaded by the bootstrap as top-level
`_lamina_*` modules, never as lamina.runtimes.python.*.
"""
