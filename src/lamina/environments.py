"""Keeps the engine's execution environments in step with the control plane's records.

When a function changes, its $LATEST environments end (published versions never change; a changed
revision is also caught at the next invoke); when it is deleted, all of them end. After any change
that can move what provisioned concurrency targets (a config, an alias, a version going Active, a
delete) the engine's provisioned environments are brought in line with the configs. When a function
is created or changed, and at the server's start for the runtimes deployed functions use, the
engine is told to make those runtimes ready ahead (their zygotes start off the request path), so
the first invoke after a create or a restart does not wait for them.

Subscribes to lamina.events; reaches the engine, the store and the control plane only through the
callables it is handed. Imports lamina.events, lamina.model and lamina.engine.spec only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from lamina.engine.spec import RunSpec
from lamina.events import FunctionChanged, FunctionDeleted
from lamina.model import LATEST, FunctionVersion


def runtime_of(version: FunctionVersion) -> tuple[str, bool] | None:
    """(runtime, whether it is a container image) an invoke of `version` starts environments of,
    or None when it cannot be invoked (Failed). Image functions all share one: ("", True)."""
    if version.state == "Failed":
        return None
    if version.package_type == "Image":
        return "", True
    return (version.runtime, False) if version.runtime else None


def runtimes_in_use(versions: Iterable[FunctionVersion]) -> list[tuple[str, bool]]:
    """The distinct runtimes of `versions` (see runtime_of), in the order first met."""
    return list(dict.fromkeys(runtime for runtime in map(runtime_of, versions) if runtime is not None))


class Environments:
    def __init__(self, *, retire: Callable[[str, str | None], None],
                 provision: Callable[[dict[tuple[str, str], tuple[RunSpec, int]]], None],
                 targets: Callable[[], dict[tuple[str, str], int]],
                 version: Callable[[str, str], FunctionVersion | None],
                 spec_for: Callable[[FunctionVersion], RunSpec],
                 prepare_runtime: Callable[[str, bool], None] = lambda runtime, image: None,
                 versions: Callable[[], Iterable[FunctionVersion]] = tuple) -> None:
        """`prepare_runtime(runtime, image)` makes a runtime ready ahead (never waits);
        `versions()` lists every deployed version (read at the server's start)."""
        self._retire = retire
        self._provision = provision
        self._targets = targets
        self._version = version
        self._spec_for = spec_for
        self._prepare_runtime = prepare_runtime
        self._versions = versions

    def retire(self, event: FunctionChanged | FunctionDeleted) -> None:
        self._retire(event.function, None if isinstance(event, FunctionDeleted) else LATEST)

    def provision(self, _: object = None) -> None:
        """Bring the engine's provisioned environments in line with the configs (Active versions only)."""
        wanted = {}
        for (name, version), count in self._targets().items():
            record = self._version(name, version)
            if record is not None and record.state == "Active":
                wanted[(name, version)] = (self._spec_for(record), count)
        self._provision(wanted)

    def prepare(self, event: FunctionChanged) -> None:
        """A function was created or changed: the runtime its $LATEST runs on is made ready ahead."""
        record = self._version(event.function, LATEST)
        runtime = runtime_of(record) if record is not None else None
        if runtime is not None:
            self._prepare_runtime(*runtime)

    def prepare_deployed(self) -> None:
        """At the server's start: the runtimes of every deployed version are made ready ahead (and
        no other)."""
        for runtime, image in runtimes_in_use(self._versions()):
            self._prepare_runtime(runtime, image)
