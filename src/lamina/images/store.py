"""The image store: pulls images and keeps them content-addressed under the data dir.

    images/roots/<hex>/     the root file system of a manifest digest, unpacked once
    images/roots/<hex>.json what lamina runs from the image config (Env, Entrypoint, Cmd, WorkingDir)

`pull(uri, architecture, progress)` resolves the reference over the OCI Distribution API and,
when the root is new, unpacks it (into a temporary directory renamed into place, so a root is
complete or absent): the first layer straight from the response, the others downloaded meanwhile
and unpacked in turn; no blob is kept. `reclaim(in_use)` removes the roots no function uses.
Imports lamina.images only.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lamina.images import layerstream, unpack
from lamina.images import reference as references
from lamina.images.registry import ImageError, Registry, unsupported

PARALLEL_LAYERS = 3  # layers downloaded at once while an earlier one unpacks
_HEX = re.compile(r"[0-9a-f]{64}")


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
        self._roots = directory / "roots"
        self._roots.mkdir(parents=True, exist_ok=True)
        for leftover in self._roots.glob(".*"):  # a pull or a removal that a stop interrupted
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.rmtree(directory / "blobs", ignore_errors=True)  # layer blobs earlier versions kept
        self._fresh: dict[str, float] = {}
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
                with self._guard:  # a reclaim that began before this answer keeps the root
                    self._fresh[digest_hex] = time.monotonic()
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
        spool = Path(tempfile.mkdtemp(prefix=f".{digest_hex}.layers.", dir=self._roots))
        stop = threading.Event()
        downloads = concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL_LAYERS, thread_name_prefix="layer")
        try:
            # the first layer streams from the response into the unpacker; the others download
            # meanwhile (a few at a time) and are unpacked from there in their turn
            later = [downloads.submit(registry.blob_to, layer, spool / str(index), count, stop)
                     for index, layer in enumerate(layers[1:], 1)]
            budget = [unpack.MAX_UNPACKED]
            for index, layer in enumerate(layers):
                progress(f"Pulling and unpacking layer {index + 1} of {len(layers)} "
                         f"({fetched[0] * 100 // max(total, 1)}% of {total} bytes).")
                if index == 0:
                    chunks = registry.blob_chunks(layer, count, stop)
                else:
                    path = later[index - 1].result()
                    blob = open(path, "rb")  # noqa: SIM115 - closed below
                    chunks = layerstream.file_chunks(blob)
                try:
                    unpack.apply_chunks(chunks, layer["mediaType"], str(staging), budget, uri, threaded=True)
                finally:
                    chunks.close()
                    if index:
                        blob.close()
                        path.unlink()
            unpack.add_mount_points(str(staging))
            unpack.add_host_names(str(staging))
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
        finally:
            stop.set()
            downloads.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(spool, ignore_errors=True)
        (self._roots / f"{digest_hex}.json").write_text(json.dumps(config))
        return config

    # -- reclaiming ----------------------------------------------------------------------------
    def digests(self) -> set[str]:
        """The manifest digests (hex) with a root here."""
        return {path.name for path in self._roots.iterdir() if not path.name.startswith(".")
                and path.is_dir() and _HEX.fullmatch(path.name)}

    def reclaim(self, in_use: Callable[[], set[str]], now: Callable[[], float] = time.monotonic) -> list[str]:
        """Remove every root no function uses any more: `in_use()` answers the digests (hex) that
        functions' versions name or running environments have as their root. It is asked after the
        candidates are listed, and a root that a pull answered after that (a function about to name
        it) is kept. Answers what was removed."""
        started = now()
        candidates = self.digests()
        used = set(in_use())
        removed = []
        with self._guard:
            self._fresh = {d: at for d, at in self._fresh.items() if started - at < 3600}
        for digest in sorted(candidates - used):
            with self._lock(digest):
                with self._guard:
                    if self._fresh.get(digest, float("-inf")) >= started:  # pulled meanwhile
                        continue
                root = self.root(digest)
                gone = self._roots / f".gone.{digest}.{uuid.uuid4().hex[:8]}"
                try:
                    (self._roots / f"{digest}.json").unlink(missing_ok=True)
                    os.replace(root, gone)  # out of sight at once: a later pull unpacks it anew
                except OSError:
                    continue
                shutil.rmtree(gone, ignore_errors=True)
                removed.append(digest)
        return removed
