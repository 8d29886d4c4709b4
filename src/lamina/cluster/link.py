"""A node's NATS connection as something the composition root can hand out before the event loop
runs: parts built in Server.__init__ / WorkerNode.__init__ hold the Link, and read `link.nc` once the
node has opened it (first thing in serve()/start(), on the node's loop).

The invoke path (RemoteEngine ↔ WorkerNode) goes through `subscribe` and `publish` here, which take
two shortcuts through nats-py (2.16's client internals, pinned in pyproject; a unit test checks the
ones used): a run request or answer is handled in the connection's read loop as it is parsed, not
queued for the subscription's own task (one event-loop hop less each way), and a message is written
to the socket at once, not left for the client's flusher task to write on a later loop turn. On a
client opened elsewhere (`Link.of`, tests' fakes) both are nats-py's ordinary subscribe and publish.
Imports lamina.cluster.connection.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from nats.aio.client import Client
from nats.protocol.command import pub_cmd

from lamina.cluster.connection import connect

log = logging.getLogger("lamina.cluster")

Handler = Callable[[str, str, bytes, "dict | None"], None]  # (subject, reply, data, headers)


class LinkClient(Client):
    """nats-py's client whose messages for `direct` subscriptions are handed to a plain callable in
    the read loop, and which can write a PUB straight to the socket (`send_now`)."""

    def __init__(self) -> None:
        super().__init__()
        self._direct: dict[int, Handler] = {}

    def direct(self, sid: int, handler: Handler) -> None:
        self._direct[sid] = handler

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes) -> None:
        handler = self._direct.get(sid)
        if handler is None or sid not in self._subs:  # not ours, or unsubscribed: nats-py's own way
            self._direct.pop(sid, None)
            await super()._process_msg(sid, subject, reply, data, headers)
            return
        self.stats["in_msgs"] += 1
        self.stats["in_bytes"] += len(data)
        hdr = await self._process_headers(headers) if headers else None
        try:
            handler(subject.decode(), reply.decode() if reply else "", data, hdr)
        except Exception:  # never end the read loop (and with it the connection)
            log.exception("a NATS message on %s could not be handled", subject)

    def send_now(self, subject: str, data: bytes, reply: str = "") -> bool:
        """Write a PUB to the socket now, after whatever the flusher has not written yet (so order
        holds); False while not connected (the caller publishes the ordinary way, which buffers)."""
        if self._status != Client.CONNECTED or self._transport is None:
            return False
        if len(data) > self._max_payload:
            return False  # nats-py's publish raises its MaxPayloadError
        pending = self._pending
        pending.append(pub_cmd(subject, reply, data))
        self._pending, self._pending_data_size = [], 0
        self._transport.writelines(pending)
        self.stats["out_msgs"] += 1
        self.stats["out_bytes"] += len(data)
        return True


class Link:
    def __init__(self, url: str, *, name: str) -> None:
        self.url = url
        self.name = name
        self._nc: Client | None = None
        self._client = LinkClient()  # connected by open(); parts built before it hold it (`client`)
        self._owned = True

    @classmethod
    def of(cls, nc: Client) -> Link:
        """A Link around a connection opened elsewhere (closing the Link leaves it open)."""
        link = cls("", name="")
        link._nc, link._owned = nc, False
        return link

    async def open(self) -> Client:
        if self._nc is None:
            self._nc = await connect(self.url, name=self.name, client=self._client)
        return self._nc

    @property
    def client(self) -> Client:
        """The node's client, connected or not yet: for parts built before the loop runs, which use it
        only after the node opened the link (a JetStreamQueue, the BusBridge)."""
        return self._nc if self._nc is not None else self._client

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError("the node's NATS link is not open yet")
        return self._nc

    async def subscribe(self, subject: str, handler: Handler, *, queue: str = "", **limits):
        """Subscribe `handler(subject, reply, data, headers)` (a plain function: it runs in the read
        loop, so it must not block; it starts tasks for anything longer). Returns the Subscription."""

        async def callback(msg) -> None:  # nats-py's way: before `direct` is set, and on other clients
            handler(msg.subject, msg.reply or "", msg.data, msg.headers)

        nc = self.nc
        sub = await nc.subscribe(subject, queue=queue, cb=callback, **limits)
        if isinstance(nc, LinkClient):
            nc.direct(sub._id, handler)
        return sub

    async def publish(self, subject: str, data: bytes, reply: str = "") -> None:
        """Publish now (written to the socket before this returns, when connected); raises like
        nats-py's publish when closed or the reconnect buffer is full."""
        nc = self.nc
        if isinstance(nc, LinkClient) and nc.send_now(subject, data, reply):
            return
        await nc.publish(subject, data, reply=reply)

    async def close(self) -> None:
        if self._nc is not None and self._owned:
            with contextlib.suppress(Exception):
                await self._nc.drain()
            with contextlib.suppress(Exception):
                await self._nc.close()
        self._nc = None
