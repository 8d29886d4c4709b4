"""A node's NATS connection as something the composition root can hand out before the event loop
runs: parts built in Server.__init__ / WorkerNode.__init__ hold the Link, and read `link.nc` once the
node has opened it (first thing in serve()/start(), on the node's loop). Imports lamina.cluster.connection.
"""

from __future__ import annotations

import contextlib

from nats.aio.client import Client

from lamina.cluster.connection import connect


class Link:
    def __init__(self, url: str, *, name: str) -> None:
        self.url = url
        self.name = name
        self._nc: Client | None = None
        self._client = Client()  # connected by open(); parts built before it hold it (`client`)
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

    async def close(self) -> None:
        if self._nc is not None and self._owned:
            with contextlib.suppress(Exception):
                await self._nc.drain()
            with contextlib.suppress(Exception):
                await self._nc.close()
        self._nc = None
