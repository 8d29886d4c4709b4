"""The Sandbox interface: how the engine starts, talks to and ends one execution environment's
process tree, whatever isolates it (plain process, namespaces forked from a zygote, bubblewrap).

A backend turns a `Launch` into a running `Sandbox`: a handle with the pid, a connected frame
channel to the runtime (`connect`), the captured fd 1/2 output, terminate/kill, the exit status
and a peak-memory reading. Backends also say how paths look from inside (`layout`), because
the process backend shows host paths where an isolating backend binds /var/task and /opt.
The pool and the environment state machine only ever see this interface.

One pattern for every backend (open-lambda's sandbox interface is the model): a backend is
handed everything it depends on by lamina.engine.backends, starts each environment with
lamina.engine.piped's `Plumbing`, returns a `PipedSandbox` subclass that only says how to
signal the tree, and on close() awaits its background work, never cancels it. Imports only
lamina.engine.protocol; never the store, control plane or HTTP layer.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lamina.engine.protocol import Channel, FrameSink


@dataclass(frozen=True)
class Mounts:
    """Host paths an environment is built from."""

    code_dir: Path  # the deployment package (/var/task inside)
    layer_dirs: tuple[Path, ...]  # layers in the function's order (merged at /opt inside)
    runtime_dir: Path  # the managed runtime's own code (/var/runtime inside)
    site_dir: Path | None  # runtime packages (boto3 and its closure)
    tmp_dir: Path  # this environment's private scratch space (/tmp inside)
    # (host directory, path inside) of each file system, mounted read-write (FileSystemConfigs)
    file_systems: tuple[tuple[Path, str], ...] = ()
    image_root: Path | None = None  # a container image's file system: the read-only root itself


@dataclass(frozen=True)
class Layout:
    """The same paths as the function sees them."""

    task_root: str
    opt_dirs: tuple[str, ...]  # layer roots, highest precedence first
    runtime_dir: str
    site_dir: str | None
    tmp_dir: str | None  # exported as TMPDIR when it is not /tmp itself
    bin_dirs: tuple[str, ...] = ()  # prepended to PATH (the interpreter's own bin)
    lib_dirs: tuple[str, ...] = ()  # prepended to LD_LIBRARY_PATH (the interpreter's lib)


@dataclass(frozen=True)
class Launch:
    """One environment to start: which interpreter runs which bootstrap with what around it."""

    env_id: str
    interpreter: str  # host path of the runtime's executable
    bootstrap: Path  # host path of the runtime bootstrap script
    mounts: Mounts
    env: dict[str, str] = field(default_factory=dict)  # the complete environment, built from scratch
    memory_mb: int = 128
    ephemeral_mb: int = 512
    network: bool = True  # False: an empty network namespace (loopback only)


class Sandbox(abc.ABC):
    """A running environment's process tree."""

    pid: int

    @abc.abstractmethod
    async def connect(self, sink: FrameSink) -> Channel:
        """Start delivering the runtime's frames and captured output to `sink`; return the channel
        to write to the runtime."""

    @abc.abstractmethod
    def drain_output(self) -> None:
        """Deliver fd 1/2 output that is readable right now (called before END is logged)."""

    @abc.abstractmethod
    def add_exit_callback(self, callback: Callable[[int], None]) -> None:
        """Call `callback(status)` once the tree is gone: the exit code, or -signal."""

    @property
    @abc.abstractmethod
    def returncode(self) -> int | None: ...

    @abc.abstractmethod
    def terminate(self) -> None:
        """Ask the whole tree to end (SIGTERM)."""

    @abc.abstractmethod
    def kill(self) -> None:
        """End the whole tree now (SIGKILL)."""

    @abc.abstractmethod
    async def wait(self) -> int:
        """The exit status once the tree is gone and reaped."""

    @abc.abstractmethod
    def peak_memory_kb(self) -> int:
        """Peak resident memory of the environment so far (0 when unknown)."""

    def out_of_memory(self) -> bool:
        """Whether the tree was killed for exceeding its memory limit (backends without a
        memory limit never say so)."""
        return False

    @abc.abstractmethod
    def close(self) -> None:
        """Release the handle's descriptors and stop watching the tree (after it is gone)."""


class SandboxBackend(abc.ABC):
    """A way of isolating environments. `not_enforced` lists, in words, what it does not enforce;
    the server prints it loudly and reports it in /health."""

    name: str = ""
    not_enforced: list[str] = []

    @abc.abstractmethod
    def layout(self, mounts: Mounts, interpreter: str) -> Layout:
        """How `mounts` appear inside an environment of this backend."""

    @abc.abstractmethod
    async def start(self, launch: Launch) -> Sandbox:
        """Start the environment; raises OSError when it cannot be started."""

    def prepare(self, interpreter: str, runtime_dir: Path) -> None:
        """Start, in the background, what the first environment of `interpreter` with the runtime
        image `runtime_dir` would otherwise start on its request path (the namespaces backend: the
        interpreter's zygote), because a function on it was created or changed, or is deployed at
        the server's start. Never raises, never waits; nothing by default."""
        return None

    def zygotes(self) -> list[str]:
        """The interpreters whose environments start from a process kept ready for them (a
        zygote), as /health reports them; none by default."""
        return []

    def settled(self, sandbox: Sandbox) -> None:
        """The environment `start` returned is through its start: its Init and the event it was
        started for are done (or failed). The backend may now do the background work its start
        put off (making the next spare), which would have competed with them for the CPU. Never
        raises; nothing by default."""
        return None

    async def close(self) -> None:
        """Called once, after the engine stopped every environment. Await the backend's background
        work (clean-ups of ended environments, spares being made) to completion, never cancelling
        it, then remove what the backend keeps beside environments (zygotes, cgroup hierarchy,
        volume pool, staging directory). The process backend keeps nothing."""
        return None
