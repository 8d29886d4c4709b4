"""Finding the host interpreter that runs a managed runtime (python3.X → a Python 3.X executable;
nodejsNN.x → a `node` of that major version or newer).

Looks, in order, at the configured path, `python3.X` on PATH (resolving pyenv-style shims to the
real executable), pyenv's and uv's install folders. Imports nothing from lamina.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

_PROBE = "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"


def _probe(candidate: str, version: str) -> str | None:
    """The real executable behind `candidate` if it runs and is Python `version`."""
    try:
        out = subprocess.run([candidate, "-c", _PROBE], capture_output=True, text=True, timeout=20,
                             env={**os.environ, "PYENV_VERSION": ""} if "shims" in candidate else None)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2 or lines[1] != version:
        return None
    return lines[0]


def _candidates(version: str) -> list[str]:
    found = []
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(on_path)
    home = Path.home()
    roots = [os.environ.get("PYENV_ROOT", str(home / ".pyenv")) + f"/versions/{version}*/bin/python{version}",
             str(home / ".local/share/uv/python") + f"/cpython-{version}*/bin/python{version}",
             f"/usr/local/bin/python{version}", f"/usr/bin/python{version}"]
    for pattern in roots:
        found.extend(sorted(glob.glob(pattern), reverse=True))
    return found


def find_python(version: str, configured: str | None = None) -> str | None:
    """The executable for Python `version` (e.g. "3.12"), or None when the host has none."""
    for candidate in ([configured] if configured else _candidates(version)):
        real = _probe(candidate, version)
        if real:
            return real
    return None


def find_node(major: int, configured: str | None = None) -> str | None:
    """A `node` executable of major version `major` or newer (Node is backward compatible), or None."""
    for candidate in [configured] if configured else [shutil.which("node"), "/usr/bin/node", "/usr/local/bin/node"]:
        if not candidate:
            continue
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        version = out.stdout.strip().lstrip("v").split(".")[0]
        if out.returncode == 0 and version.isdigit() and int(version) >= major:
            return os.path.realpath(candidate)
    return None


def missing_node_message(runtime: str, major: int) -> str:
    return (
        f"The {runtime} runtime needs Node.js {major} or newer (`node`) on the lamina host and none was found. "
        f"Install one (for example your system's nodejs package or https://nodejs.org), or point lamina at it "
        f"with LAMINA_RUNTIME_PATHS={runtime}=/path/to/node, then update the function."
    )


def missing_python_message(runtime: str, version: str) -> str:
    return (
        f"The {runtime} runtime needs a Python {version} interpreter on the lamina host and none was found. "
        f"Install one (for example `uv python install {version}` or your system's python{version} package), "
        f"or point lamina at it with LAMINA_RUNTIME_PATHS={runtime}=/path/to/python{version}, then update "
        "the function."
    )
