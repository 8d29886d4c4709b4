"""Which sandbox backend an engine uses: the `sandbox` setting ("auto", "process", and later
"namespaces", "bubblewrap") → a SandboxBackend. The composition root calls `select`, prints the
backend's name and `not_enforced` list loudly, and reports them in /health.

Imports lamina.engine.sandbox and the backends only.
"""

from __future__ import annotations

from lamina.engine.process_backend import ProcessBackend
from lamina.engine.sandbox import SandboxBackend

AVAILABLE = ("process",)
PLANNED = ("namespaces", "bubblewrap")


def select(setting: str = "auto") -> SandboxBackend:
    """The backend for `setting`; "auto" takes the most isolating one this host supports (only the
    process backend exists so far). Raises ValueError for a backend that cannot be used here."""
    if setting in ("auto", "process"):
        return ProcessBackend()
    if setting in PLANNED:
        raise ValueError(f"The {setting} sandbox backend is not available in this lamina build; "
                         f"use one of: auto, {', '.join(AVAILABLE)}.")
    raise ValueError(f"Unknown sandbox backend {setting!r}; use one of: auto, {', '.join(AVAILABLE)}.")
