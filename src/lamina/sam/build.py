"""`lamina build`: every function and layer of a template turned into a reproducible zip.

For each `Artifact` (lamina.sam.artifacts): digest the inputs; a zip already built from the same
inputs is reused from the build cache; otherwise the code is copied into a scratch directory, its
dependencies installed for the runtime and architecture (lamina.sam.dependencies), and the copy
zipped (lamina.sam.packaging). The build directory ends up with `<LogicalId>.zip` per artifact and
`build.json`, the manifest a deploy reads (zip path, CodeSha256, size, the resource's kind).
Imports lamina.sam only.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from lamina.sam import dependencies, packaging
from lamina.sam.artifacts import Artifact

BUILD_FORMAT = "1"  # part of every inputs digest: a change in how lamina builds invalidates the cache
MANIFEST = "build.json"


@dataclass(frozen=True)
class Built:
    logical_id: str
    resource_type: str
    zip_path: str
    code_sha256: str
    size: int
    seconds: float
    cached: bool


def build_all(artifacts: list[Artifact], build_dir: Path,
              step: Callable[[str, str], None] = lambda logical_id, what: None) -> list[Built]:
    """Build every artifact into `build_dir` and write its manifest; `step(logical_id, what)` is told
    each stage as it starts. Raises DependencyError (nothing in the manifest changes then)."""
    build_dir.mkdir(parents=True, exist_ok=True)
    cache = build_dir / "cache"
    cache.mkdir(exist_ok=True)
    results = [_build(artifact, build_dir, cache, step) for artifact in artifacts]
    manifest = {"format": BUILD_FORMAT, "artifacts": {r.logical_id: asdict(r) for r in results}}
    (build_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return results


def _build(artifact: Artifact, build_dir: Path, cache: Path, step: Callable[[str, str], None]) -> Built:
    started = time.perf_counter()
    step(artifact.logical_id, "hashing inputs")
    digest = packaging.inputs_digest(artifact.source, BUILD_FORMAT, artifact.layout, artifact.runtime or "",
                                     artifact.architecture)
    cached_zip = cache / f"{digest}.zip"
    cached = cached_zip.exists()
    if not cached:
        with tempfile.TemporaryDirectory(prefix="lamina-build-") as scratch:
            root = Path(scratch) / "root"
            tree = root / artifact.layout if artifact.layout in ("python", "nodejs") else root
            step(artifact.logical_id, "copying code")
            shutil.copytree(artifact.source, tree, symlinks=False,
                            ignore=shutil.ignore_patterns(*packaging.IGNORED_DIRS, "*.pyc"))
            _install(artifact, tree, step)
            step(artifact.logical_id, "zipping")
            data = packaging.zip_tree(packaging.files(root, keep_node_modules=True))
            partial = cached_zip.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(cached_zip)
    data = cached_zip.read_bytes()
    target = build_dir / f"{artifact.logical_id}.zip"
    target.write_bytes(data)
    return Built(artifact.logical_id, artifact.resource_type, str(target), packaging.code_sha256(data), len(data),
                 round(time.perf_counter() - started, 3), cached)


def _install(artifact: Artifact, tree: Path, step: Callable[[str, str], None]) -> None:
    language = artifact.language
    if language == "python" and (tree / "requirements.txt").is_file():
        step(artifact.logical_id, f"pip install for {artifact.runtime} {artifact.architecture}")
        dependencies.install_python(tree / "requirements.txt", tree, artifact.runtime or "", artifact.architecture)
    elif language == "nodejs" and (tree / "package.json").is_file():
        step(artifact.logical_id, "npm install --omit=dev")
        dependencies.install_node(tree)


def read_manifest(build_dir: Path) -> dict[str, dict]:
    """The artifacts of the last build in `build_dir` (empty when there was none)."""
    try:
        return json.loads((build_dir / MANIFEST).read_text())["artifacts"]
    except (OSError, ValueError, KeyError):
        return {}
