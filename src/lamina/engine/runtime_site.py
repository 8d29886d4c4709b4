"""The runtime site directory: what makes `import boto3` work inside a function, as every AWS
Python runtime ships boto3. The function's interpreter may not have it, so this directory holds
symlinks to the boto3 dependency closure found in lamina's own environment (and their
dist-info, so importlib.metadata answers too). It goes on the function's sys.path after
/var/task and the layers.

Runs on the server side at engine start; imports nothing from lamina.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

log = logging.getLogger("lamina.engine")

# import name → distribution name (for the dist-info directory)
CLOSURE = {
    "boto3": "boto3", "botocore": "botocore", "s3transfer": "s3transfer", "jmespath": "jmespath",
    "dateutil": "python_dateutil", "urllib3": "urllib3", "six": "six",
}


def _origin(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin) if spec.origin else None


def _link(target: Path, link: Path) -> None:
    """Point `link` at `target`, atomically (another lamina process may be doing the same)."""
    if link.is_symlink() and os.readlink(link) == str(target):
        return
    temporary = link.with_name(f".{link.name}.{os.getpid()}")
    if temporary.is_symlink():
        temporary.unlink()
    temporary.symlink_to(target)
    os.replace(temporary, link)


def build(site_dir: Path) -> Path:
    """Create (or refresh) `site_dir` with links to the closure; returns it."""
    site_dir.mkdir(parents=True, exist_ok=True)
    for name, distribution in CLOSURE.items():
        origin = _origin(name)
        if origin is None:
            log.warning("%s is not installed beside lamina: functions cannot import it", name)
            continue
        _link(origin, site_dir / origin.name)
        for info in sorted(origin.parent.glob(f"{distribution}-*.dist-info")):
            _link(info, site_dir / info.name)
    return site_dir
