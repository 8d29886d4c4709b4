"""A worker makes a RunSpec from the wire runnable on its own host: the code and layer directories
unpacked from digests through its own blob store, the image root pulled through its own image store
(by the resolved digest URI) with ImageConfig over the image's config, the interpreter and
executable from its own runtime catalog, and file system directories from its own --file-system
settings. Blocking (unpacks, pulls): call it off the event loop. Imports lamina.engine.spec only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from lamina.engine.spec import FileSystemMount, RunSpec, image_run

IMAGE_RAPID_RUNTIME = "provided.al2023"  # image functions reach the Runtime API through rapid


class Localizer:
    def __init__(self, *, unpacked: Callable[[str], Path], interpreter: Callable[[str], str | None],
                 executable: Callable[[str], str | None], file_system_dir: Callable[[str], Path | None],
                 image: Callable[[str, str], tuple[Path, dict]] | None = None) -> None:
        self._unpacked = unpacked
        self._interpreter = interpreter
        self._executable = executable
        self._file_system_dir = file_system_dir
        self._image = image  # (resolved URI, architecture) → (root, image config)

    def localize(self, spec: RunSpec) -> RunSpec:
        file_systems = tuple(FileSystemMount(fs.arn, fs.local_mount_path, self._file_system_dir(fs.arn))
                             for fs in spec.file_systems)
        if spec.image_uri:
            if self._image is None:
                raise RuntimeError("this worker cannot run container image functions")
            root, config = self._image(spec.image_uri, spec.architecture)
            image = image_run(root, config, spec.image_overrides)
            return dataclasses.replace(spec, code_dir=root, image=image, file_systems=file_systems,
                                       interpreter=self._interpreter(IMAGE_RAPID_RUNTIME))
        return dataclasses.replace(
            spec, code_dir=self._unpacked(spec.code_sha256) if spec.code_sha256 else Path(),
            layer_dirs=tuple(self._unpacked(digest) for digest in spec.layer_sha256s),
            interpreter=self._interpreter(spec.runtime), executable=self._executable(spec.runtime),
            file_systems=file_systems)
