"""The runtime image: what an environment shows at /var/runtime. One directory per kind of
runtime, built once at engine start from lamina's own files:

    <image>/python   the managed Python runtime (bootstrap.py, _lamina_*.py) and the boto3
                     dependency closure found in lamina's environment, with its dist-info (so
                     `import boto3` and importlib.metadata work, as every AWS Python runtime
                     ships boto3); PYTHONPATH=/var/runtime puts it on sys.path
    <image>/rapid    rapid (the Runtime API of custom and Node.js runtimes), the frame channel it
                     shares with the Python runtime, and node/bootstrap.cjs

Entries are hard links (copies across file systems), never symlinks: a link would point at a
host path the environment cannot see. An image is named for what it was built from, so a
restart reuses it; a new one is built aside and renamed into place (a zygote never sees a
half-built image). The directory of images is shared by every lamina of the user (the cache dir,
`Settings.cache_dir`), and each zygote writes the byte-code of what it preloads (boto3's closure:
~1 s of compiling per Python version) into the image once, so neither a restart nor a new data
dir compiles it again. Another lamina may be running on an image of other sources, so images are
removed only once unused for `STALE_AFTER` (each build marks its image used).

Runs on the server side at engine start; imports nothing from lamina.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.util
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

log = logging.getLogger("lamina.engine")

RUNTIMES = Path(__file__).resolve().parent.parent / "runtimes"

# import name → distribution name (for the dist-info directory)
CLOSURE = {
    "boto3": "boto3", "botocore": "botocore", "s3transfer": "s3transfer", "jmespath": "jmespath",
    "dateutil": "python_dateutil", "urllib3": "urllib3", "six": "six",
}
STALE_AFTER = 7 * 86400  # an image no lamina built (or reused) for this long is removed
BUILDING_STALE_AFTER = 3600  # a half-built image this old was left by a lamina that died building it
RAPID_SHARED = ("_lamina_channel.py",)  # the Python runtime's files rapid imports
# debugpy, for `lamina dev --debug`: under <image>/python/_lamina_debug, off sys.path (AWS's runtime has no
# debugpy for functions to import); the runtime adds it only when asked to wait for a debugger.
DEBUG_DIR = "_lamina_debug"


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
    debugpy = _origin("debugpy")
    if debugpy is not None:
        (target / DEBUG_DIR).mkdir()
        _place(debugpy, target / DEBUG_DIR / debugpy.name)


def build_rapid(target: Path) -> None:
    target.mkdir(parents=True)
    for source in _runtime_files(RUNTIMES / "rapid"):
        _place(source, target / source.name)
    for name in RAPID_SHARED:
        _place(RUNTIMES / "python" / name, target / name)
    (target / "node").mkdir()
    for source in _runtime_files(RUNTIMES / "node"):
        _place(source, target / "node" / source.name)


def fingerprint() -> str:
    """What the image is built from: lamina's runtime files and the closure's installed
    distributions (names, sizes, modification times). The same sources give the same name."""
    digest = hashlib.sha256()
    for directory in ("python", "rapid", "node"):
        for source in _runtime_files(RUNTIMES / directory):
            stat = source.stat()
            digest.update(f"{source}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    for name, distribution in CLOSURE.items():
        origin = _origin(name)
        if origin is not None:
            infos = sorted(info.name for info in origin.parent.glob(f"{distribution}-*.dist-info"))
            digest.update(f"{origin}:{infos}\n".encode())
    debugpy = _origin("debugpy")
    digest.update(f"debugpy:{debugpy}:{debugpy.stat().st_mtime_ns if debugpy else ''}\n".encode())
    return digest.hexdigest()[:16]


def build(site_dir: Path, fallback: Path | None = None) -> Path:
    """The image under `site_dir` for the current sources: reused when one was built from the
    same sources, else built afresh; images unused for `STALE_AFTER` are removed. Returns its root,
    which holds `python` and `rapid`. Where `site_dir` cannot be written, the image is built under
    `fallback` (if given) instead."""
    try:
        return _build(site_dir)
    except OSError as exc:
        if fallback is None or fallback == site_dir:
            raise
        log.warning("cannot keep the runtime image in %s (%s): building it in %s", site_dir, exc, fallback)
        return _build(fallback)


def _build(site_dir: Path) -> Path:
    site_dir.mkdir(parents=True, exist_ok=True)
    image = site_dir / f"image-{fingerprint()}"
    if not image.is_dir():
        building = site_dir / f".{image.name}-{uuid.uuid4().hex[:8]}"
        build_python(building / "python")
        build_rapid(building / "rapid")
        try:
            building.rename(image)
        except OSError:  # another process built the same image first
            shutil.rmtree(building, ignore_errors=True)
    os.utime(image)  # used now: not stale
    now = time.time()
    for old in site_dir.iterdir():
        if old != image and _removable(old, now):
            with contextlib.suppress(OSError):
                shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    return image


def _removable(entry: Path, now: float) -> bool:
    """Whether an entry of the images' directory may go: an image unused for `STALE_AFTER`, a
    half-built one older than `BUILDING_STALE_AFTER`, or anything else (what an older lamina left)."""
    name = entry.name
    if not (name.startswith("image-") or name.startswith(".image-")) or entry.is_symlink():
        return True
    try:
        age = now - entry.stat().st_mtime
    except OSError:
        return False
    return age > (BUILDING_STALE_AFTER if name.startswith(".") else STALE_AFTER)
