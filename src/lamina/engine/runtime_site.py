"""The runtime image: what an environment shows at /var/runtime. One directory per kind of
runtime, built once at engine start from lamina's own files:

    <image>/python   the managed Python runtime (bootstrap.py, _lamina_*.py) and the boto3
                     dependency closure found in lamina's environment, with its dist-info (so
                     `import boto3` and importlib.metadata work, as every AWS Python runtime
                     ships boto3); PYTHONPATH=/var/runtime puts it on sys.path
    <image>/rapid    rapid (the Runtime API of custom and Node.js runtimes), the frame channel it
                     shares with the Python runtime, and node/bootstrap.cjs

Entries are hard links (copies across file systems), never symlinks: a link would point at a
host path the environment cannot see. Each build is a fresh directory (older ones are removed),
so a running zygote never sees a half-built image.

Runs on the server side at engine start; imports nothing from lamina.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import logging
import os
import shutil
import uuid
from pathlib import Path

log = logging.getLogger("lamina.engine")

RUNTIMES = Path(__file__).resolve().parent.parent / "runtimes"

# import name → distribution name (for the dist-info directory)
CLOSURE = {
    "boto3": "boto3", "botocore": "botocore", "s3transfer": "s3transfer", "jmespath": "jmespath",
    "dateutil": "python_dateutil", "urllib3": "urllib3", "six": "six",
}
RAPID_SHARED = ("_lamina_channel.py",)  # the Python runtime's files rapid imports


def _origin(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin) if spec.origin else None


def _link_file(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copy2(source, target)


def _place(source: Path, target: Path) -> None:
    """`source` (a file or a tree) at `target`, as hard links; caches are left behind."""
    if source.is_dir():
        shutil.copytree(source, target, copy_function=lambda s, t: _link_file(Path(s), Path(t)),
                        ignore=shutil.ignore_patterns("__pycache__"), symlinks=False)
    else:
        _link_file(source, target)


def _runtime_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".py", ".cjs"))


def build_python(target: Path) -> None:
    target.mkdir(parents=True)
    for source in _runtime_files(RUNTIMES / "python"):
        _place(source, target / source.name)
    for name, distribution in CLOSURE.items():
        origin = _origin(name)
        if origin is None:
            log.warning("%s is not installed beside lamina: functions cannot import it", name)
            continue
        _place(origin, target / origin.name)
        for info in sorted(origin.parent.glob(f"{distribution}-*.dist-info")):
            _place(info, target / info.name)


def build_rapid(target: Path) -> None:
    target.mkdir(parents=True)
    for source in _runtime_files(RUNTIMES / "rapid"):
        _place(source, target / source.name)
    for name in RAPID_SHARED:
        _place(RUNTIMES / "python" / name, target / name)
    (target / "node").mkdir()
    for source in _runtime_files(RUNTIMES / "node"):
        _place(source, target / "node" / source.name)


def build(site_dir: Path) -> Path:
    """A fresh image under `site_dir` (older ones removed); returns its root, which holds
    `python` and `rapid`."""
    site_dir.mkdir(parents=True, exist_ok=True)
    image = site_dir / f"image-{uuid.uuid4().hex[:12]}"
    building = site_dir / f".{image.name}"
    build_python(building / "python")
    build_rapid(building / "rapid")
    building.rename(image)
    for old in site_dir.iterdir():
        if old != image:
            with contextlib.suppress(OSError):
                shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    return image
