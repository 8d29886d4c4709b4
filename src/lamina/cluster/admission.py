"""Concurrency limits held across every front of a cluster, without a database write per invoke.

Each pool of concurrency (a function's reserved concurrency; the account's unreserved pool, what
the reservations leave of the account limit) is lent to fronts in blocks recorded in PostgreSQL
(lamina.store.concurrency_blocks): a front admits invocations from the units it holds, takes a
new block when it runs out (one short transaction, the only database call on an invoke's path,
and only on a miss), asks for more in the background before it runs out while busy, and gives
back what it does not use after `idle_after` seconds. A background thread renews the front's
blocks; a front that dies stops renewing and its blocks expire after `ttl`, and a front that
cannot renew stops admitting from blocks that may have expired. Provisioned concurrency counts
as in single-node mode (it is part of the function's reserved or unreserved share).

`ClusterAdmission` has lamina.admission.Admission's methods, so the Invoker does not change; the
block policy (how many to ask for, keep, give back) is pure functions below. Imports
lamina.admission (its throttle Reason), lamina.errors and lamina.store.concurrency_blocks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from lamina.admission import RESERVED_EXCEEDED
from lamina.errors import CONCURRENT_INVOCATION_LIMIT_EXCEEDED as ACCOUNT_EXCEEDED
from lamina.errors import ServiceException, TooManyRequestsException
from lamina.store.concurrency_blocks import BlockStore

log = logging.getLogger("lamina.cluster.admission")

UNREACHABLE = "lamina could not reach its database to admit the invocation"
ACCOUNT_POOL = ""  # the pool of functions without reserved concurrency
MAX_BLOCK = 16
TTL_S = 15.0  # a block nobody renews for this long is free again
IDLE_AFTER_S = 1.0  # unused units are given back after this long without a new invocation
ROUND_S = 0.25  # how often the background thread renews, refills and gives back
DENIED_S = 0.02  # after a pool said no, misses answer 429 without asking again for this long
DOWN_S = 2.0  # after the database failed, misses answer ServiceException at once for this long (the loop
              # must not wait out a connect timeout per invoke); the background rounds keep trying


# The block policy (pure).

def block_size(capacity: int) -> int:
    """Units taken at once from a pool of `capacity`: an eighth of it, at least 1 and at most MAX_BLOCK,
    so a small pool (reserved concurrency 2) is shared one unit at a time."""
    return max(1, min(MAX_BLOCK, capacity // 8))


def to_ask(*, in_use: int, held: int, capacity: int) -> int:
    """Units to ask for ahead (in the background) while busy: a block once the free units fall under
    half a block; nothing for an idle pool or one this front could not use more of."""
    block = block_size(capacity)
    free = held - in_use
    if in_use == 0 or free * 2 >= block or held >= capacity:
        return 0
    return min(block, capacity - held)


def to_keep(*, in_use: int, held: int, capacity: int, idle_for: float, idle_after: float) -> int:
    """Units to keep of `held`: only those in use once idle for `idle_after`, else in use plus at most
    two blocks (the rest goes back), never more than the pool now has."""
    if idle_for >= idle_after:
        keep = in_use
    else:
        keep = min(held, in_use + 2 * block_size(capacity))
    return max(in_use, min(keep, max(capacity, in_use)))


@dataclass
class _Pool:
    held: int = 0
    in_use: int = 0
    last_active: float = 0.0
    denied_until: float = 0.0


class ClusterAdmission:
    def __init__(self, database: sa.Engine, node_id: str, account_limit: int,
                 reserved: dict[str, int] | None = None, *, ttl: float = TTL_S, idle_after: float = IDLE_AFTER_S,
                 round_s: float = ROUND_S, clock: Callable[[], float] = time.time) -> None:
        self._blocks = BlockStore(database)
        self._node = node_id
        self._limit = account_limit
        self._reserved: dict[str, int] = dict(reserved or {})
        self._reserved_total = sum(self._reserved.values())  # kept, as Admission's: a miss costs the same with any number reserved
        self._ttl = ttl
        self._idle_after = idle_after
        self._round_s = round_s
        self._clock = clock
        self._pools: dict[str, _Pool] = {}
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()
        self._valid_until = 0.0  # local blocks are trusted until then (renewed in time)
        self._down_until = 0.0  # the database failed: misses do not ask it until then
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # Admission's methods.

    def set_reserved(self, reserved: dict[str, int]) -> None:
        with self._lock:
            self._reserved = dict(reserved)
            self._reserved_total = sum(self._reserved.values())

    def unreserved_pool(self) -> int:
        """What the reservations leave of the account limit, shared by functions without one."""
        return self._limit - self._reserved_total

    def reserved(self, function_name: str) -> int | None:
        return self._reserved.get(function_name)

    def acquire(self, function_name: str) -> bool:
        """Count one more invocation or raise the throttle; returns the token `release` needs."""
        reserved = self._reserved.get(function_name)
        if reserved == 0:
            raise TooManyRequestsException(RESERVED_EXCEEDED)
        pool_name = ACCOUNT_POOL if reserved is None else function_name
        capacity = self._capacity(pool_name)
        now = self._clock()
        with self._lock:
            pool = self._pools.setdefault(pool_name, _Pool())
            pool.last_active = now
            if pool.in_use >= pool.held or now > self._valid_until or pool.in_use >= capacity:
                self._take(pool_name, pool, capacity, now)
            pool.in_use += 1
            self._running[function_name] = self._running.get(function_name, 0) + 1
        return reserved is None

    def release(self, function_name: str, unreserved: bool) -> None:
        with self._lock:
            pool = self._pools.get(ACCOUNT_POOL if unreserved else function_name)
            if pool is not None and pool.in_use > 0:
                pool.in_use -= 1
                pool.last_active = self._clock()
            count = self._running.get(function_name, 0) - 1
            if count > 0:
                self._running[function_name] = count
            else:
                self._running.pop(function_name, None)

    def running_of(self, function_name: str) -> int:
        return self._running.get(function_name, 0)

    def running(self) -> int:
        return sum(self._running.values())

    def held(self) -> dict[str, int]:
        """Units this front holds per pool (for /health and tests)."""
        with self._lock:
            return {name: pool.held for name, pool in self._pools.items() if pool.held}

    # Blocks.

    def _capacity(self, pool_name: str) -> int:
        if pool_name == ACCOUNT_POOL:
            return max(0, self._limit - self._reserved_total)
        return self._reserved.get(pool_name, 0)

    def _take(self, pool_name: str, pool: _Pool, capacity: int, now: float) -> None:
        """A miss (under the lock): take a block now, or raise the throttle."""
        reason = ACCOUNT_EXCEEDED if pool_name == ACCOUNT_POOL else RESERVED_EXCEEDED
        if pool.in_use >= capacity or now < pool.denied_until:
            raise TooManyRequestsException(reason)
        if now < self._down_until:
            raise ServiceException(UNREACHABLE)
        if now > self._valid_until:  # renewals failed: what we hold may have expired; start again
            self._renew(now)
        want = max(1, min(block_size(capacity), capacity - pool.in_use))
        try:
            units = self._blocks.take(self._node, pool_name, want, capacity, ttl=self._ttl, now=now)
        except sa.exc.SQLAlchemyError as error:
            log.warning("concurrency blocks: the database is unreachable (%s)", error)
            self._down_until = self._clock() + DOWN_S
            raise ServiceException(UNREACHABLE) from None
        if units <= 0:
            pool.denied_until = now + DENIED_S
            raise TooManyRequestsException(reason)
        pool.held += units

    def _renew(self, now: float) -> None:
        try:
            self._blocks.renew(self._node, ttl=self._ttl, now=now)
            held = self._blocks.held(self._node, now=now)
        except sa.exc.SQLAlchemyError as error:
            log.warning("concurrency blocks: the database is unreachable (%s)", error)
            self._down_until = self._clock() + DOWN_S
            raise ServiceException(UNREACHABLE) from None
        for name, pool in self._pools.items():  # what expired while we could not renew is gone
            pool.held = max(held.get(name, 0), 0)
        self._valid_until = now + self._ttl * 0.6

    def round(self) -> None:
        """The background step: renew this front's blocks, ask ahead for busy pools, give back idle units."""
        now = self._clock()
        try:
            with self._lock:
                pools = list(self._pools.items())
            self._blocks.renew(self._node, ttl=self._ttl, now=now)
            self._valid_until = max(self._valid_until, now + self._ttl * 0.6)
            self._down_until = 0.0
            for name, pool in pools:
                capacity = self._capacity(name)
                with self._lock:
                    in_use, held, idle_for = pool.in_use, pool.held, now - pool.last_active
                keep = to_keep(in_use=in_use, held=held, capacity=capacity, idle_for=idle_for,
                               idle_after=self._idle_after)
                if keep < held:
                    with self._lock:
                        keep = max(keep, pool.in_use)
                        if keep < pool.held:
                            self._blocks.keep(self._node, name, keep)
                            pool.held = keep
                    continue
                ask = to_ask(in_use=in_use, held=held, capacity=capacity)
                if ask:
                    units = self._blocks.take(self._node, name, ask, capacity, ttl=self._ttl, now=now)
                    with self._lock:
                        pool.held += units
        except sa.exc.SQLAlchemyError as error:
            log.warning("concurrency blocks: renewing failed (%s)", error)
            self._down_until = self._clock() + DOWN_S

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lamina-admission", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._round_s):
            self.round()

    def close(self) -> None:
        """Stop and give every block back (the other fronts may use them at once)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self._blocks.drop(self._node)
        except sa.exc.SQLAlchemyError:
            pass
