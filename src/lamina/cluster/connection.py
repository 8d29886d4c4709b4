"""A node's connection to NATS: one client per process, reconnecting by itself for as long as the
node lives (a NATS restart is an outage of cluster traffic, never the end of the node).
Imports nothing from lamina."""

from __future__ import annotations

import logging

from nats.aio.client import Client

log = logging.getLogger("lamina.cluster")

RECONNECT_WAIT_S = 0.5
CONNECT_TIMEOUT_S = 2.0


async def connect(url: str, *, name: str, client: Client | None = None) -> Client:
    """Connect to `url` (nats://host:port[,nats://...]); raises when no server answers at first. With
    `client`, that (not yet connected) client connects, so parts holding it since before can use it."""

    async def error(exc: Exception) -> None:
        log.warning("NATS: %s", exc)

    async def disconnected() -> None:
        log.warning("NATS: disconnected from %s; reconnecting", url)

    async def reconnected() -> None:
        log.info("NATS: reconnected to %s", url)

    nc = client if client is not None else Client()
    await nc.connect(
        servers=[part.strip() for part in url.split(",") if part.strip()], name=name,
        max_reconnect_attempts=-1, reconnect_time_wait=RECONNECT_WAIT_S, connect_timeout=CONNECT_TIMEOUT_S,
        error_cb=error, disconnected_cb=disconnected, reconnected_cb=reconnected,
    )
    return nc
