"""The runtime catalog: which runtimes this host can run, and with which interpreter and executable.

Probed lazily, once per runtime id, from the configured paths (Settings.runtime_paths) and the
host's PATH. Imports lamina.runtime_ids and lamina.engine.interpreter only; never the store,
the control plane or the HTTP layer.
"""

from __future__ import annotations

import os
import sys

from lamina import runtime_ids
from lamina.engine import interpreter


class Runtimes:
    """Which runtimes this host can run, probed once per runtime id."""

    def __init__(self, configured: dict[str, str]) -> None:
        self._configured = configured
        self._found: dict[str, str | None] = {}

    def interpreter(self, runtime: str) -> str | None:
        """The host Python that runs the runtime: python3.X's own, or for runtimes served through the
        Runtime API (provided.*, nodejs*) the one that runs rapid."""
        if runtime not in self._found:
            version = runtime_ids.python_version(runtime)
            if version:
                self._found[runtime] = interpreter.find_python(version, self._configured.get(runtime))
            elif runtime_ids.uses_runtime_api(runtime):
                self._found[runtime] = self._rapid_python()
            else:
                self._found[runtime] = None
        return self._found[runtime]

    def _rapid_python(self) -> str:
        """The newest Python 3.10+ of the supported python3.x runtimes found here, else lamina's own."""
        if "rapid" not in self._found:
            found = None
            for minor in range(14, 9, -1):
                found = interpreter.find_python(f"3.{minor}", self._configured.get(f"python3.{minor}"))
                if found:
                    break
            self._found["rapid"] = found or os.path.realpath(sys.executable)
        return self._found["rapid"]  # type: ignore[return-value]

    def executable(self, runtime: str) -> str | None:
        """The language executable rapid starts: `node` for nodejs*; None for other runtimes."""
        major = runtime_ids.node_major(runtime)
        if major is None:
            return None
        key = f"executable:{runtime}"
        if key not in self._found:
            self._found[key] = interpreter.find_node(major, self._configured.get(runtime))
        return self._found[key]

    def problem(self, runtime: str) -> str | None:
        """Why a function on `runtime` cannot run here, or None when it can."""
        if runtime in runtime_ids.CUSTOM:
            return None
        major = runtime_ids.node_major(runtime)
        if major is not None:
            return None if self.executable(runtime) else interpreter.missing_node_message(runtime, major)
        version = runtime_ids.python_version(runtime)
        if version is None or not runtime_ids.runnable(runtime):
            return (f"lamina cannot run the {runtime} runtime yet: it runs the managed Python (python3.x) and "
                    "Node.js (nodejs*) runtimes, and custom runtimes (provided.al2023, provided.al2).")
        if self.interpreter(runtime) is None:
            return interpreter.missing_python_message(runtime, version)
        return None
