"""Run specs: the `RunSpec` the engine starts a function version's environments from.

Turns a stored FunctionVersion into what the engine needs (code and layer directories unpacked
from the blob store, the interpreter from the runtime catalog, the network choice from the
function's tags, the host directories of its file systems, the execution role's temporary credentials
from the `credentials` callable).
Execution-role credentials are minted per rotation period R (`credentials_ttl`): those of period N
expire at the end of period N+1, and the spec's revision carries N, so once the period moves on
(`rotated()`, polled by the composition root, which then drops cached specs) the next invoke
starts environments with fresh credentials and retires the old ones, at least R before their
credentials expire. Imports lamina.store, lamina.engine.spec, lamina.engine.catalog, lamina.model
and lamina.arn only; never the control plane, the queue or the HTTP layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from lamina import arn as arns
from lamina.engine.catalog import Runtimes
from lamina.engine.spec import FileSystemMount, ImageRun, RunSpec, image_run
from lamina.images.store import ImageStore
from lamina.model import FunctionVersion
from lamina.store.blobs import BlobStore
from lamina.store.functions import FunctionStore

NETWORK_TAG = "lamina:network"
DEBUG_TAG = "lamina:debug-port"  # lamina dev --debug: Python environments wait for debugpy on this port
IMAGE_RAPID_RUNTIME = "provided.al2023"  # image functions reach the Runtime API through the same rapid


def debug_port(tags: dict[str, str], runtime: str) -> int | None:
    """The port a Python function's environments wait for a debugger on (tag lamina:debug-port), if any."""
    text = tags.get(DEBUG_TAG, "")
    if not runtime.startswith("python") or not text.isdigit() or not 1024 <= int(text) <= 65535:
        return None
    return int(text)


def wants_network(tags: dict[str, str]) -> bool:
    """A function asks for no network with the tag lamina:network=none (an empty network namespace on
    the isolating backends; environments started after the change see it)."""
    return tags.get(NETWORK_TAG, "").lower() != "none"


class RunSpecs:
    def __init__(self, store: FunctionStore, blobs: BlobStore, runtimes: Runtimes, *, region: str,
                 account_id: str, credentials: Callable[[str, str, float], tuple[str, str, str] | None] | None = None,
                 credentials_ttl: float = 3600.0, clock: Callable[[], float] = time.time,
                 file_system_dir: Callable[[str], Path | None] = lambda arn: None,
                 images: ImageStore | None = None, unpack: bool = True) -> None:
        self._credentials = credentials
        self._ttl = credentials_ttl
        self._clock = clock
        self._period = self.period()
        self._store = store
        self._blobs = blobs
        self._runtimes = runtimes
        self._region = region
        self._account_id = account_id
        self._file_system_dir = file_system_dir
        self._images = images
        # False on a cluster front: specs name code, layers and images by digest only (code_dir and
        # layer_dirs stay empty, image None); the worker that runs them makes its own paths.
        self._unpack = unpack

    def period(self) -> int:
        return int(self._clock() // self._ttl)

    def rotated(self) -> bool:
        """Whether the credential period moved on since the last call (cached specs are then stale)."""
        period = self.period()
        moved, self._period = period != self._period, period
        return moved

    def _role_credentials(self, version: FunctionVersion) -> tuple[tuple[str, str, str] | None, str]:
        if self._credentials is None or not version.role:
            return None, version.revision_id
        period = self.period()
        minted = self._credentials(version.role, version.name, (period + 2) * self._ttl)
        return minted, f"{version.revision_id}@{period}" if minted else version.revision_id

    def image_run(self, version: FunctionVersion) -> ImageRun:
        """What an image function runs: ImageConfig's overrides over the image config."""
        assert self._images is not None
        return image_run(self._images.root(version.code_sha256), self._images.config(version.code_sha256) or {},
                         version.image_config)

    def for_version(self, version: FunctionVersion) -> RunSpec:
        credentials, revision = self._role_credentials(version)
        function = self._store.get(version.name)  # read once: its tags say network and debug port
        tags = function.tags if function else {}
        network = not function or wants_network(tags)
        if version.package_type == "Image" and (self._images is not None or not self._unpack):
            image = self.image_run(version) if self._unpack else None
            return RunSpec(
                function_name=version.name, version=version.version,
                function_arn=arns.function_arn(self._region, self._account_id, version.name),
                revision_id=revision, runtime="", handler="", code_dir=image.root if image else Path(),
                interpreter=self._runtimes.interpreter(IMAGE_RAPID_RUNTIME),
                environment=dict(version.environment), memory_mb=version.memory_size, timeout_s=version.timeout,
                ephemeral_mb=version.ephemeral_storage, architecture=version.architectures[0],
                log_group=version.effective_log_group, log_format=version.log_format,
                tracing_mode=version.tracing_mode, application_log_level=version.application_log_level,
                system_log_level=version.system_log_level, network=network,
                credentials=credentials, file_systems=self._file_systems(version), image=image,
                image_uri=version.resolved_image_uri, image_overrides=dict(version.image_config),
            )
        runtime = version.runtime or ""
        return RunSpec(
            function_name=version.name, version=version.version,
            function_arn=arns.function_arn(self._region, self._account_id, version.name),
            revision_id=revision, runtime=runtime, handler=version.handler or "",
            code_dir=self._blobs.unpacked(version.code_hex) if self._unpack else Path(),
            interpreter=self._runtimes.interpreter(runtime), executable=self._runtimes.executable(runtime),
            layer_dirs=tuple(self._blobs.unpacked(layer["CodeHex"]) for layer in version.layers) if self._unpack else (),
            environment=dict(version.environment), memory_mb=version.memory_size, timeout_s=version.timeout,
            ephemeral_mb=version.ephemeral_storage, architecture=version.architectures[0],
            log_group=version.effective_log_group, log_format=version.log_format, tracing_mode=version.tracing_mode,
            application_log_level=version.application_log_level, system_log_level=version.system_log_level,
            network=network, credentials=credentials,
            file_systems=self._file_systems(version), debug_port=debug_port(tags, runtime),
            code_sha256=version.code_hex, layer_sha256s=tuple(layer["CodeHex"] for layer in version.layers),
        )

    def _file_systems(self, version: FunctionVersion) -> tuple[FileSystemMount, ...]:
        return tuple(FileSystemMount(fs["Arn"], fs["LocalMountPath"], self._file_system_dir(fs["Arn"]))
                     for fs in version.file_system_configs)
