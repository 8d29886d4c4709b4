"""Which sandbox backend an engine uses: the `sandbox` setting ("auto", "namespaces", "bubblewrap",
"process") and the minimum isolation level → a SandboxBackend. "auto" takes the most isolating
backend this host supports; a named one that cannot run here, or anything below the minimum,
is refused with the reason, never silently replaced by something weaker. The composition root
prints the chosen backend's name and `not_enforced` list loudly and reports them in /health.

Every backend is handed its dependencies here (cgroup hierarchy, volume pool, host facts); none
detects its own.

Imports lamina.engine modules only.
"""

from __future__ import annotations

from pathlib import Path

from lamina.engine import hosts, volumes
from lamina.engine.cgroups import Hierarchy
from lamina.engine.process_backend import ProcessBackend
from lamina.engine.sandbox import SandboxBackend

LEVELS = ("process", "bubblewrap", "namespaces")  # least to most isolating


def _bubblewrap_problem() -> str | None:
    try:
        from lamina.engine import bubblewrap_backend
    except ImportError:
        return "this lamina build has no bubblewrap backend"
    return bubblewrap_backend.unavailable()


def _make(name: str, work_dir: Path) -> SandboxBackend:
    """Build backend `name`, handing it everything it depends on: each backend detects nothing
    itself. The isolating ones get the cgroup hierarchy and the /tmp volume pool from here."""
    if name == "namespaces":
        from lamina.engine import namespaces_backend

        hierarchy = Hierarchy.detect()
        if hierarchy is None:
            raise ValueError("The namespaces sandbox backend cannot run here: no writable memory cgroup.")
        return namespaces_backend.NamespacesBackend(work_dir=work_dir, hierarchy=hierarchy,
                                                    volumes=volumes.pool_for(work_dir),
                                                    last_cap=namespaces_backend.last_capability())
    if name == "bubblewrap":
        from lamina.engine import bubblewrap_backend

        facts = bubblewrap_backend.host()
        hierarchy = Hierarchy.detect() if facts["root"] else None
        return bubblewrap_backend.BubblewrapBackend(hierarchy=hierarchy, volumes=volumes.pool_for(work_dir),
                                                    hosts=hosts.prepare(work_dir / "etc"), **facts)
    return ProcessBackend()


def problem(name: str) -> str | None:
    """Why backend `name` cannot run on this host, or None."""
    if name == "namespaces":
        from lamina.engine import namespaces_backend

        return namespaces_backend.unavailable()
    if name == "bubblewrap":
        return _bubblewrap_problem()
    return None


def select(setting: str = "auto", work_dir: Path | None = None, minimum: str = "process") -> SandboxBackend:
    """The backend for `setting`. Raises ValueError when it cannot be used here or is below
    `minimum`."""
    work_dir = Path(work_dir) if work_dir is not None else Path("/tmp/lamina-sandbox")
    if minimum not in LEVELS:
        raise ValueError(f"Unknown isolation level {minimum!r}; use one of: {', '.join(LEVELS)}.")
    if setting == "auto":
        reasons = []
        for name in reversed(LEVELS):
            why = problem(name)
            if why is None:
                break
            reasons.append(f"{name}: {why}")
        else:  # pragma: no cover - process always works
            name = "process"
        if LEVELS.index(name) < LEVELS.index(minimum):
            raise ValueError(f"Isolation below {minimum} refused ({'; '.join(reasons)}).")
        return _make(name, work_dir)
    if setting not in LEVELS:
        raise ValueError(f"Unknown sandbox backend {setting!r}; use one of: auto, {', '.join(LEVELS)}.")
    if LEVELS.index(setting) < LEVELS.index(minimum):
        raise ValueError(f"The {setting} sandbox backend is below the required isolation level {minimum}.")
    why = problem(setting)
    if why is not None:
        raise ValueError(f"The {setting} sandbox backend cannot run here: {why}.")
    return _make(setting, work_dir)
