"""Admission of an invocation against reserved concurrency and the account's unreserved pool.

A function with reserved concurrency R runs at most R invocations at once
(ReservedFunctionConcurrentInvocationLimitExceeded past it, always with R = 0); functions
without a reservation share what the reservations leave of the account limit
(ConcurrentInvocationLimitExceeded). `decide` is the pure policy; `Admission` counts.
Imports lamina.errors only.
"""

from __future__ import annotations

from lamina.errors import CONCURRENT_INVOCATION_LIMIT_EXCEEDED as ACCOUNT_EXCEEDED
from lamina.errors import TooManyRequestsException

RESERVED_EXCEEDED = "ReservedFunctionConcurrentInvocationLimitExceeded"


def decide(*, reserved: int | None, running: int, unreserved_running: int, unreserved_pool: int) -> str | None:
    """None to admit one more invocation of a function, or the throttle Reason."""
    if reserved is not None:
        return RESERVED_EXCEEDED if running >= reserved else None
    return ACCOUNT_EXCEEDED if unreserved_running >= unreserved_pool else None


class Admission:
    def __init__(self, account_limit: int, reserved: dict[str, int] | None = None) -> None:
        self._limit = account_limit
        self._reserved: dict[str, int] = dict(reserved or {})
        self._reserved_total = sum(self._reserved.values())  # kept, so an invoke costs the same with any number reserved
        self._running: dict[str, int] = {}
        self._unreserved_running = 0

    def set_reserved(self, reserved: dict[str, int]) -> None:
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
        reason = decide(reserved=reserved, running=self._running.get(function_name, 0),
                        unreserved_running=self._unreserved_running,
                        unreserved_pool=self._limit - self._reserved_total)
        if reason is not None:
            raise TooManyRequestsException(reason)
        self._running[function_name] = self._running.get(function_name, 0) + 1
        if reserved is None:
            self._unreserved_running += 1
        return reserved is None

    def release(self, function_name: str, unreserved: bool) -> None:
        count = self._running.get(function_name, 0) - 1
        if count > 0:
            self._running[function_name] = count
        else:
            self._running.pop(function_name, None)
        if unreserved:
            self._unreserved_running -= 1

    def running_of(self, function_name: str) -> int:
        return self._running.get(function_name, 0)

    def running(self) -> int:
        return sum(self._running.values())
