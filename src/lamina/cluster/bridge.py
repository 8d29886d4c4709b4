"""`BusBridge`: relays lamina.events between the nodes of a cluster over NATS.

Every event published on the local bus goes out on `Names.events` as JSON
`{"kind": class name, "fields": {...}, "origin": node_id}`; every event another node published
comes back in through `Bus.publish_remote`, so only subscribers registered with `remote=True`
(cache keepers) see it and a relayed event never writes the database twice. A node ignores its
own events (no echo). Relaying is best effort, like any NATS core publish: while NATS is
unreachable the client buffers a little and then drops; cache keepers that must never miss a
change also re-read on their own schedule. Imports lamina.events and lamina.cluster.names.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import typing

from nats.aio.client import Client
from nats.aio.msg import Msg

from lamina import events
from lamina.cluster.names import Names

log = logging.getLogger("lamina.cluster.bridge")

KINDS: dict[str, type] = {kind.__name__: kind for kind in typing.get_args(events.Event)}


def encode(event: object, origin: str) -> bytes:
    """The wire form of a domain event; ValueError for an object that is not one."""
    kind = type(event)
    if KINDS.get(kind.__name__) is not kind:
        raise ValueError(f"{kind.__name__} is not a lamina.events event")
    return json.dumps({"kind": kind.__name__, "fields": dataclasses.asdict(event), "origin": origin},
                      separators=(",", ":")).encode()


def decode(data: bytes) -> tuple[object, str] | None:
    """(event, origin node) from the wire form; None for anything this node cannot read (an unknown
    kind from a newer node, missing or extra fields, not JSON)."""
    try:
        message = json.loads(data)
        kind = KINDS[message["kind"]]
        fields = message["fields"]
        origin = message["origin"]
        if not isinstance(fields, dict) or not isinstance(origin, str):
            return None
        return kind(**fields), origin
    except (ValueError, KeyError, TypeError):
        return None


class BusBridge:
    def __init__(self, bus: events.Bus, nc: Client, names: Names, node_id: str) -> None:
        self._bus = bus
        self._nc = nc
        self._names = names
        self._node_id = node_id
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outgoing: asyncio.Queue[bytes | None] | None = None
        self._sender: asyncio.Task | None = None
        self._subscription = None
        self._watching = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._outgoing = asyncio.Queue()
        self._subscription = await self._nc.subscribe(self._names.events, cb=self._received)
        await self._nc.flush()  # the server has the subscription: other nodes' events from now on arrive
        self._sender = asyncio.create_task(self._send())
        if not self._watching:
            self._bus.watch(self._published)
            self._watching = True

    async def close(self) -> None:
        """Send what is queued, then stop relaying in both directions."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if self._outgoing is not None:
            self._outgoing.put_nowait(None)
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except Exception:  # the connection is closed already
                pass
            self._subscription = None
        try:
            await self._nc.flush(timeout=2)
        except Exception:
            pass

    # -- local → cluster ----------------------------------------------------------------------------
    def _published(self, event: object) -> None:
        """Bus watcher: runs on the bus's loop, or in the publishing thread when none runs."""
        loop, outgoing = self._loop, self._outgoing
        if loop is None or outgoing is None:
            return
        try:
            data = encode(event, self._node_id)
        except ValueError:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            outgoing.put_nowait(data)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(outgoing.put_nowait, data)

    async def _send(self) -> None:
        """One sender keeps the publish order."""
        assert self._outgoing is not None
        while (data := await self._outgoing.get()) is not None:
            try:
                await self._nc.publish(self._names.events, data)
            except Exception as exc:
                log.warning("could not relay a domain event to the cluster: %s", exc)

    # -- cluster → local ----------------------------------------------------------------------------
    async def _received(self, msg: Msg) -> None:
        decoded = decode(msg.data)
        if decoded is None:
            log.warning("ignored an unreadable domain event on %s", msg.subject)
            return
        event, origin = decoded
        if origin == self._node_id or self._loop is None:
            return
        self._bus.publish_remote(event)
