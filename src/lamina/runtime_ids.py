"""Runtime identifiers as data: which exist, which lamina runs (and how: its own Python bootstrap,
or rapid, the in-sandbox Runtime API server), and AWS's deprecation dates.

Reference 2.3. Imports nothing from lamina. Dates are (block create, block update) as ISO
dates; a runtime past its date can no longer be used to create or update a function.
"""

from __future__ import annotations

import datetime as _dt

# Runtimes whose block-create / block-update dates AWS publishes. Source: AWS Lambda's runtime table
# ("Supported runtimes" / "Deprecated runtimes") as of April 2026, which moved python3.11 (deprecation
# 2027-06-30) and python3.9 to the dates below; the other rows are the reference's copy of the table
# (reference 2.3), for which no later date is known here. `allow_deprecated_runtimes` overrides them all.
BLOCK_DATES: dict[str, tuple[str, str]] = {
    "python2.7": ("2021-07-15", "2022-05-30"),
    "python3.6": ("2022-07-18", "2022-08-29"),
    "python3.7": ("2024-01-09", "2024-02-08"),
    "python3.8": ("2025-02-28", "2025-03-31"),
    "python3.9": ("2026-08-31", "2026-09-30"),
    "python3.10": ("2026-07-31", "2026-08-31"),
    "python3.11": ("2027-07-31", "2027-08-31"),
    "python3.12": ("2028-11-30", "2029-01-10"),
    "python3.13": ("2029-07-31", "2029-08-31"),
    "python3.14": ("2029-07-31", "2029-08-31"),
    "provided.al2": ("2026-07-31", "2026-08-31"),
    "java17": ("2026-07-31", "2026-08-31"),
    "java11": ("2026-07-31", "2026-08-31"),
    "java8.al2": ("2026-07-31", "2026-08-31"),
    "dotnet8": ("2027-02-01", "2027-03-03"),
    "nodejs18.x": ("2025-09-01", "2025-10-01"),
}
# Runtimes deprecated long ago, for which every create and update is blocked.
RETIRED = frozenset({
    "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x",
    "nodejs16.x", "nodejs4.3-edge", "java8", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1",
    "dotnetcore3.1", "dotnet6", "go1.x", "ruby2.5", "ruby2.7", "ruby3.2", "provided",
})

# Runtimes lamina can execute, by family. Others are accepted by the API but leave the function Failed.
PYTHON_PREFIX = "python3."
NODE_PREFIX = "nodejs"
CUSTOM = frozenset({"provided.al2023", "provided.al2"})  # a `bootstrap` speaking the Runtime API
# The runtimes offered for new functions (the console's Create page), newest first.
OFFERED = ("python3.14", "python3.13", "python3.12", "python3.11", "python3.10", "nodejs24.x", "nodejs22.x",
           "nodejs20.x", "provided.al2023", "provided.al2")


def blocked(runtime: str, *, updating: bool, today: _dt.date | None = None) -> bool:
    """Whether AWS refuses `runtime` for a create (or, with updating=True, an update) today."""
    if runtime in RETIRED:
        return True
    dates = BLOCK_DATES.get(runtime)
    if dates is None:
        return False
    limit = _dt.date.fromisoformat(dates[1] if updating else dates[0])
    return (today or _dt.date.today()) >= limit


def offered(today: _dt.date | None = None) -> list[str]:
    """The runtimes a new function may use today (OFFERED less the ones AWS blocks for creates)."""
    return [runtime for runtime in OFFERED if not blocked(runtime, updating=False, today=today)]


def blocked_message(runtime: str) -> str:
    return (
        f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
        "functions. We recommend you use a supported runtime while creating or updating functions."
    )


def is_python(runtime: str) -> bool:
    """Whether `runtime` is a Python 3 runtime (run by lamina's own bootstrap, no Runtime API)."""
    return runtime.startswith(PYTHON_PREFIX)


def is_node(runtime: str) -> bool:
    """Whether `runtime` is a Node.js runtime (rapid starts the host's `node` for it)."""
    return runtime.startswith(NODE_PREFIX)


def uses_runtime_api(runtime: str) -> bool:
    """Whether `runtime` goes through rapid, the in-sandbox Runtime API server: custom runtimes
    (a `bootstrap` speaking the Runtime API) and Node.js. The one place this is decided."""
    return runtime in CUSTOM or is_node(runtime)


def runnable(runtime: str) -> bool:
    """Whether lamina has a way to run `runtime` at all (given its interpreter is installed)."""
    return is_python(runtime) or uses_runtime_api(runtime)


def python_version(runtime: str) -> str | None:
    """'python3.12' → '3.12'; None for other families."""
    if is_python(runtime):
        return runtime[len("python"):]
    return None


def node_major(runtime: str) -> int | None:
    """'nodejs20.x' → 20; None for other families (and the retired bare 'nodejs')."""
    if is_node(runtime) and runtime.endswith(".x") and runtime[len(NODE_PREFIX):-2].isdigit():
        return int(runtime[len(NODE_PREFIX):-2])
    return None
