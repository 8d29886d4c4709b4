"""The image store: pulls images and keeps them content-addressed under the data dir.

    images/blobs/<hex>      each layer blob, downloaded once per digest (shared by every image)
    images/roots/<hex>/     the root file system of a manifest digest, unpacked once
    images/roots/<hex>.json what lamina runs from the image config (Env, Entrypoint, Cmd, WorkingDir)

`pull(uri, architecture, progress)` resolves the reference over the OCI Distribution API,
downloads the layers it lacks, unpacks the root when it is new (into a temporary directory
renamed into place, so a root is complete or absent) and answers a `PulledImage`.
Imports lamina.images only.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lamina.images import reference as references
from lamina.images import unpack
from lamina.images.registry import ImageError, Registry, unsupported


@dataclass(frozen=True)
class PulledImage:
    digest_hex: str  # the manifest digest, hex (CodeSha256)
    resolved_uri: str  # repo@sha256:...
    config: dict  # {Env, Entrypoint, Cmd, WorkingDir}
    root: Path


def invalid_reference(uri: str) -> str:
    return f"Source image {uri} is not valid. Provide a valid source image."


class ImageStore:
    def __init__(self, directory: Path, *, insecure: frozenset[str] = frozenset(),
                 credentials: dict[str, tuple[str, str]] | None = None) -> None:
        self._blobs = directory / "blobs"
        self._roots = directory / "roots"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._roots.mkdir(parents=True, exist_ok=True)
        self._insecure = insecure
        self._credentials = credentials or {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def root(self, digest_hex: str) -> Path:
        return self._roots / digest_hex

    def config(self, digest_hex: str) -> dict | None:
        try:
            return json.loads((self._roots / f"{digest_hex}.json").read_text())
        except (OSError, ValueError):
            return None

    def pull(self, uri: str, architecture: str, progress: Callable[[str], None] = lambda text: None) -> PulledImage:
        try:
            ref = references.parse(uri)
        except ValueError:
            raise ImageError("InvalidImage", invalid_reference(uri)) from None
        registry = Registry(ref, uri, insecure=self._insecure, credentials=self._credentials.get(ref.registry))
        try:
            progress("Resolving the image manifest.")
            digest, manifest = registry.manifest(architecture)
            digest_hex = digest.removeprefix("sha256:")
            resolved = ref.resolved(digest)
            with self._lock(digest_hex):
                config = self.config(digest_hex)
                if config is None or not self.root(digest_hex).is_dir():
                    config = self._build(registry, manifest, digest_hex, architecture, uri, progress)
            return PulledImage(digest_hex, resolved, config, self.root(digest_hex))
        finally:
            registry.close()

    def _build(self, registry: Registry, manifest: dict, digest_hex: str, architecture: str, uri: str,
               progress: Callable[[str], None]) -> dict:
        try:
            image_config = json.loads(registry.blob_bytes(manifest["config"]))
        except ValueError as exc:
            raise unsupported(uri) from exc
        wanted = {"x86_64": "amd64", "arm64": "arm64"}.get(architecture, architecture)
        if image_config.get("architecture") not in (None, wanted) or image_config.get("os") not in (None, "linux"):
            raise ImageError("InvalidImage", f"The image {uri} is for {image_config.get('os')}/"
                                             f"{image_config.get('architecture')}, not linux/{wanted} (the "
                                             f"function's architecture {architecture}).")
        layers = manifest["layers"]
        if any(layer.get("mediaType", "") not in unpack.LAYER_TYPES for layer in layers):
            raise unsupported(uri)
        total = sum(int(layer.get("size") or 0) for layer in layers)
        fetched = [0]

        def count(n: int) -> None:
            fetched[0] += n

        staging = Path(tempfile.mkdtemp(prefix=f".{digest_hex}.", dir=self._roots))
        try:
            budget = [unpack.MAX_UNPACKED]
            for index, layer in enumerate(layers, 1):
                # each layer is unpacked as it downloads (a blob already here is read from disk)
                path = self._blobs / layer["digest"].removeprefix("sha256:")
                progress(f"Pulling and unpacking layer {index} of {len(layers)} "
                         f"({fetched[0] * 100 // max(total, 1)}% of {total} bytes).")
                with self._lock("blob:" + path.name):
                    if path.exists():
                        with open(path, "rb") as blob:
                            unpack.apply_layer(blob, layer["mediaType"], str(staging), budget, uri)
                        count(int(layer.get("size") or 0))
                        continue
                    stream = registry.blob_stream(layer, path, count)
                    try:
                        unpack.apply_layer(stream, layer["mediaType"], str(staging), budget, uri)
                        stream.finish()
                    except BaseException:
                        stream.discard()
                        raise
            unpack.add_mount_points(str(staging))
            settings = image_config.get("config") or {}
            config = {"Env": list(settings.get("Env") or []), "Entrypoint": settings.get("Entrypoint"),
                      "Cmd": settings.get("Cmd"), "WorkingDir": settings.get("WorkingDir") or ""}
            target = self.root(digest_hex)
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        (self._roots / f"{digest_hex}.json").write_text(json.dumps(config))
        return config
