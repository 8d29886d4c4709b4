"""A node's connection to NATS: one client per process, reconnecting by itself for as long as the
node lives (a NATS restart is an outage of cluster traffic, never the end of the node), once it
has connected: a first connection that no server answers raises NatsUnreachable, so a node started
without NATS says so and exits. Imports nothing from lamina."""

from __future__ import annotations

import logging

from nats.aio.client import Client
from nats.errors import NoServersError

log = logging.getLogger("lamina.cluster")

RECONNECT_WAIT_S = 0.5
CONNECT_TIMEOUT_S = 2.0
FIRST_RETRIES = 3  # a first connection tries each server this many times more before it gives up


class NatsUnreachable(ConnectionError):
    """No server of the URL answered the first connection."""


async def connect(url: str, *, name: str, client: Client | None = None) -> Client:
    """Connect to `url` (nats://host:port[,nats://...]); raises NatsUnreachable when no server answers at
    first (each is tried 1 + FIRST_RETRIES times). With
    `client`, that (not yet connected) client connects, so parts holding it since before can use it."""

    async def error(exc: Exception) -> None:
        log.warning("NATS: %s", exc)

    async def disconnected() -> None:
        log.warning("NATS: disconnected from %s; reconnecting", url)

    async def reconnected() -> None:
        log.info("NATS: reconnected to %s", url)

    nc = client if client is not None else Client()
    # nats-py's connect retries as often as it would reconnect: with no limit it never returns while
    # no server answers, so the first connection has a limit of its own, lifted once it is made
    try:
        await nc.connect(
            servers=[part.strip() for part in url.split(",") if part.strip()], name=name,
            max_reconnect_attempts=FIRST_RETRIES, reconnect_time_wait=RECONNECT_WAIT_S,
            connect_timeout=CONNECT_TIMEOUT_S, error_cb=error, disconnected_cb=disconnected,
            reconnected_cb=reconnected,
        )
    except NoServersError:
        raise NatsUnreachable(f"no NATS server answers at {url}") from None
    nc.options["max_reconnect_attempts"] = -1
    return nc
