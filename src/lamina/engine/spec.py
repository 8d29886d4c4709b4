"""The engine's typed inputs and outputs: what to run (RunSpec), one event (InvokeRequest),
and what came back (InvokeResult). Imports nothing from lamina outside the engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class FileSystemMount:
    """An EFS access point a function mounts: the host directory serving it (None: not mapped on
    this host) shown read-write at `local_mount_path`."""

    arn: str
    local_mount_path: str  # /mnt/...
    host_dir: Path | None


@dataclass(frozen=True)
class ImageRun:
    """A container image function: the unpacked image (the environment's read-only root) and what
    to start in it (ImageConfig over the image config: the command line, its directory, the
    image's Env)."""

    root: Path
    argv: tuple[str, ...]
    working_dir: str
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to start an execution environment for one function version."""

    function_name: str
    version: str  # "$LATEST" or "1", "2", ...
    function_arn: str  # unqualified ARN
    revision_id: str  # changes whenever code or configuration changes
    runtime: str  # e.g. "python3.11"
    handler: str  # e.g. "app.handler"
    code_dir: Path  # unpacked, read-only deployment package (becomes /var/task)
    interpreter: str | None  # host path of the interpreter for the runtime; None = not installed
    # (for runtimes served through the Runtime API: the host Python that runs runtimes/rapid)
    layer_dirs: tuple[Path, ...] = ()  # unpacked layers in order (merged at /opt)
    environment: dict[str, str] = field(default_factory=dict)  # the user's variables
    memory_mb: int = 128
    timeout_s: int = 3
    ephemeral_mb: int = 512
    architecture: str = "x86_64"
    log_group: str = ""  # "/aws/lambda/NAME" unless LoggingConfig.LogGroup says otherwise
    log_format: str = "Text"  # "Text" | "JSON"
    application_log_level: str | None = None
    system_log_level: str | None = None
    tracing_mode: str = "PassThrough"
    executable: str | None = None  # host path of the language executable rapid starts (node for nodejs*)
    network: bool = True  # False: the function asked for none (tag lamina:network=none)
    # (access key id, secret, session token) of the execution role; None = local dummies
    credentials: tuple[str, str, str] | None = None
    file_systems: tuple[FileSystemMount, ...] = ()  # FileSystemConfigs
    image: ImageRun | None = None  # PackageType Image (runtime and handler are then "")
    # `lamina dev --debug`: a Python function's environments wait for a debugpy client on this loopback
    # port, and neither the Init nor the invocation timeout runs (a debugger may hold them paused)
    debug_port: int | None = None
    # What the paths above were made from, so another host can make them again (cluster mode: code
    # and layers travel as digests, images as their resolved digest URI, never as host paths).
    code_sha256: str = ""  # hex digest of the code zip ("" for an image function)
    layer_sha256s: tuple[str, ...] = ()  # hex digests of the layer zips, in order
    image_uri: str | None = None  # repo@sha256:... of an image function
    image_overrides: dict = field(default_factory=dict)  # ImageConfig: EntryPoint, Command, WorkingDirectory

    @property
    def pool_key(self) -> tuple[str, str]:
        return (self.function_name, self.version)


def image_run(root: Path, config: dict, overrides: dict) -> ImageRun:
    """What an image function runs: ImageConfig's overrides over the image config (Entrypoint, Cmd,
    WorkingDir, Env)."""
    entrypoint = overrides.get("EntryPoint") or config.get("Entrypoint") or []
    command = overrides.get("Command") or config.get("Cmd") or []
    pairs = tuple((entry.split("=", 1) + [""])[:2] for entry in config.get("Env") or [])
    return ImageRun(root=root, argv=(*entrypoint, *command),
                    working_dir=overrides.get("WorkingDirectory") or config.get("WorkingDir") or "/",
                    env=tuple((k, v) for k, v in pairs))


class ResponseStream(Protocol):
    """Where a streamed response goes while the function produces it (the HTTP layer's writer).
    `begin` is called once, before the first `write`, with the stream's content type and the version
    that runs; `attach` hands over how to stop the invocation when the reader goes away (`abort`) and
    how to hold the runtime back while the reader is behind (`pause(True)`, then `pause(False)`)."""

    def begin(self, content_type: str, executed_version: str) -> None: ...

    def write(self, data: bytes) -> None: ...

    def attach(self, abort: Callable[[], None], pause: Callable[[bool], None]) -> None: ...


@dataclass(slots=True)  # built per invoke: not frozen (a frozen one's init costs µs)
class InvokeRequest:
    request_id: str
    payload: bytes
    invoked_arn: str  # the ARN the caller used (unqualified, version or alias ARN)
    client_context: str | None = None  # JSON text (already base64-decoded)
    cognito_identity: str | None = None  # JSON text
    trace_id: str | None = None  # X-Ray header value
    tail: bool = False  # collect the last 4 KB of this invocation's log
    # A streamed response's bytes go here as they arrive (InvokeWithResponseStream, RESPONSE_STREAM URLs);
    # None: a streamed response is collected into the result's payload (Invoke), within 6 MB.
    stream: ResponseStream | None = None


@dataclass(slots=True)  # built per invoke: not frozen (a frozen one's init costs µs)
class InvokeResult:
    payload: bytes
    executed_version: str
    function_error: str | None = None  # "Unhandled" when the function failed
    error_type: str | None = None  # e.g. "Runtime.ImportModuleError", "Sandbox.Timedout"
    content_type: str = "application/json"
    log_tail: str | None = None  # last 4 KB of this invocation's log text, when asked for
    duration_ms: float = 0.0
    billed_ms: int = 0
    init_ms: float | None = None  # set on a cold start only
    max_memory_mb: int = 0
    streamed: bool = False  # the response went to the request's stream (the payload holds only an error)
    disconnected: bool = False  # the stream's reader went away and the invocation was stopped


@dataclass(slots=True)  # built per invoke: not frozen (a frozen one's init costs µs)
class LogEvent:
    timestamp_ms: int
    message: str


class PlatformEvent(tuple):
    """A platform line (START, END, REPORT) whose text is made when it is read: by the log sink's
    writer thread, off the event loop. Read like a LogEvent (`timestamp_ms`, `message`). A tuple
    (timestamp ms, render, args), made with `PlatformEvent.of` (no Python-level __init__ per line)."""

    __slots__ = ()

    @staticmethod
    def of(timestamp_ms: int, render: Callable[..., str], args: tuple) -> PlatformEvent:
        return _new_tuple(PlatformEvent, (timestamp_ms, render, args))

    @property
    def timestamp_ms(self) -> int:
        return self[0]

    @property
    def message(self) -> str:
        return self[1](*self[2])

    def __repr__(self) -> str:
        return f"PlatformEvent({self[0]}, {self.message!r})"


_new_tuple = tuple.__new__


@dataclass(slots=True)  # built per invoke: not frozen (a frozen one's init costs µs)
class LogBatch:
    """Log lines of one environment's stream, handed to the log sink off the hot path."""

    group: str
    stream: str
    events: tuple[LogEvent | PlatformEvent, ...]
