"""Keeps the engine's execution environments in step with the control plane's records.

When a function changes, its $LATEST environments end (published versions never change; a changed
revision is also caught at the next invoke); when it is deleted, all of them end. After any change
that can move what provisioned concurrency targets (a config, an alias, a version going Active, a
delete) the engine's provisioned environments are brought in line with the configs.

Subscribes to lamina.events; reaches the engine, the store and the control plane only through the
callables it is handed. Imports lamina.events, lamina.model and lamina.engine.spec only.
"""

from __future__ import annotations

from collections.abc import Callable

from lamina.engine.spec import RunSpec
from lamina.events import FunctionChanged, FunctionDeleted
from lamina.model import LATEST, FunctionVersion


class Environments:
    def __init__(self, *, retire: Callable[[str, str | None], None],
                 provision: Callable[[dict[tuple[str, str], tuple[RunSpec, int]]], None],
                 targets: Callable[[], dict[tuple[str, str], int]],
                 version: Callable[[str, str], FunctionVersion | None],
                 spec_for: Callable[[FunctionVersion], RunSpec]) -> None:
        self._retire = retire
        self._provision = provision
        self._targets = targets
        self._version = version
        self._spec_for = spec_for

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
