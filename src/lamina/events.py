"""Typed domain events and the small in-process bus that carries them.

The control plane publishes what changed (a function, an alias, a concurrency setting) as a
frozen dataclass; the composition root (lamina.server) subscribes the parts that keep in step
with it (the invoke cache, the engine's environments, delete cascades, admission). Only events
something publishes today are here (event source mappings announce MappingChanged, EventBridge
rules RuleChanged); function URL configs add theirs beside them when they land. Imports nothing
from lamina.

Publishing from a worker thread (control operations run off the event loop) hands delivery to
the event loop the bus is bound to, so while that loop runs subscribers run on it, in publish
order; publishing on the loop, or when no bound loop is running (before start, after stop),
delivers at once in the publishing thread. A failing subscriber is logged and does not stop the
others.

Cluster mode relays events between nodes (lamina.cluster.bridge): a subscriber registered with
`remote=True` (a cache keeper) also receives events other nodes published, through
`publish_remote`; the others (cascades that write the database) see local events only, so a
relayed event never does the same write twice. `watch` hands every locally published event to the
bridge. Single-node mode has no bridge and no remote events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger("lamina.events")


@dataclass(frozen=True)
class FunctionChanged:
    """A function's $LATEST, its state or its versions changed (created, updated, published, a version deleted)."""

    function: str


@dataclass(frozen=True)
class FunctionDeleted:
    """A function and everything under it is gone."""

    function: str


@dataclass(frozen=True)
class VersionDeleted:
    """A published version of `function` was deleted (FunctionChanged is announced too)."""

    function: str
    version: str


@dataclass(frozen=True)
class AliasChanged:
    """An alias of `function` was created, moved (version or weights) or deleted."""

    function: str
    alias: str


@dataclass(frozen=True)
class ProvisionedConcurrencyChanged:
    """A provisioned-concurrency config of `function` was put or deleted."""

    function: str


@dataclass(frozen=True)
class ReservedConcurrencyChanged:
    """A function's reserved concurrency was put or deleted (or given back when it was deleted)."""

    function: str


@dataclass(frozen=True)
class RuleChanged:
    """An EventBridge rule on `bus` was put, enabled, disabled or deleted (`rule` None: the whole
    bus and its rules were deleted)."""

    bus: str
    rule: str | None


@dataclass(frozen=True)
class MappingChanged:
    """An event source mapping was created, updated or deleted (the pollers read what it is now)."""

    uuid: str


@dataclass(frozen=True)
class FunctionUrlChanged:
    """The URL config of `function` for `qualifier` ($LATEST or an alias) was created, updated or deleted."""

    function: str
    qualifier: str


Event = (RuleChanged | FunctionChanged | FunctionDeleted | VersionDeleted | AliasChanged | ProvisionedConcurrencyChanged
         | ReservedConcurrencyChanged | MappingChanged | FunctionUrlChanged)
E = TypeVar("E")


class Bus:
    """Subscribers by event type; `publish` delivers an event to each subscriber of its type."""

    def __init__(self) -> None:
        self._subscribers: dict[type, list[tuple[Callable[[Any], None], bool]]] = {}
        self._watchers: list[Callable[[object], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def subscribe(self, event_type: type[E], handler: Callable[[E], None], *, remote: bool = False) -> None:
        """`handler` receives local events of `event_type`; with `remote`, other nodes' ones too."""
        self._subscribers.setdefault(event_type, []).append((handler, remote))

    def watch(self, watcher: Callable[[object], None]) -> None:
        """`watcher` sees every locally published event, after its subscribers (the bridge relays them)."""
        self._watchers.append(watcher)

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Deliver on `loop` from now on (None: deliver in the publishing thread)."""
        self._loop = loop

    def publish(self, event: object) -> None:
        self._dispatch(event, remote=False)

    def publish_remote(self, event: object) -> None:
        """Deliver an event another node published to the `remote=True` subscribers only."""
        self._dispatch(event, remote=True)

    def _dispatch(self, event: object, *, remote: bool) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(self._deliver, event, remote)
                return
        self._deliver(event, remote)

    def _deliver(self, event: object, remote: bool = False) -> None:
        for handler, wants_remote in self._subscribers.get(type(event), ()):
            if remote and not wants_remote:
                continue
            try:
                handler(event)
            except Exception:
                log.exception("a subscriber of %s failed", type(event).__name__)
        if not remote:
            for watcher in self._watchers:
                try:
                    watcher(event)
                except Exception:
                    log.exception("a watcher of %s failed", type(event).__name__)
