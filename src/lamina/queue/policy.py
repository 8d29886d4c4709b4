"""What happens to an asynchronous event before and after an attempt: the pure `before_run` and
`next_step` functions.

AWS's rules (reference 3.2): function errors are retried up to MaximumRetryAttempts times,
about 1 minute after the first failure and 2 minutes after the second; throttles and system
errors go back to the queue with exponential back-off from 1 s, capped at 5 minutes, until
MaximumEventAgeInSeconds runs out. An event whose function has reserved concurrency 0 fails
at once (ZeroReservedConcurrency); one whose function is gone is dropped without a record.
`scale` multiplies every delay and the maximum event age (tests run in seconds). Imports lamina.model and lamina.queue.attempt.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.model import RetryConfig
from lamina.queue.attempt import Outcome

SUCCESS = "Success"
RETRIES_EXHAUSTED = "RetriesExhausted"
EVENT_AGE_EXCEEDED = "EventAgeExceeded"
ZERO_RESERVED_CONCURRENCY = "ZeroReservedConcurrency"

FUNCTION_ERROR_DELAYS = (60.0, 120.0)
THROTTLE_FIRST_DELAY = 1.0
THROTTLE_MAX_DELAY = 300.0

RAN = (Outcome.SUCCESS, Outcome.FUNCTION_ERROR)  # the function ran: counts toward retries
HELD_BACK = (Outcome.THROTTLE, Outcome.SYSTEM_ERROR)  # it did not: back-off until the event is too old


@dataclass(frozen=True)
class Retry:
    """Back to the queue, due at `at`, with the counts so far."""

    at: float
    runs: int
    throttles: int


@dataclass(frozen=True)
class Finish:
    """The event is done; `destination` (if any) receives a record with `condition` and `runs`."""

    condition: str
    destination: str | None
    runs: int


@dataclass(frozen=True)
class Drop:
    """The event is forgotten without a destination record (its function no longer exists)."""


Step = Retry | Finish | Drop


def function_error_delay(retry_number: int, scale: float) -> float:
    """Delay before the n-th retry (1-based) after a function error."""
    index = min(retry_number, len(FUNCTION_ERROR_DELAYS)) - 1
    return FUNCTION_ERROR_DELAYS[index] * scale


def throttle_delay(throttles: int, scale: float) -> float:
    """Delay after the n-th throttle or system error (1-based): 1 s, 2 s, 4 s, ... capped at 5 min."""
    return min(THROTTLE_FIRST_DELAY * 2 ** (throttles - 1), THROTTLE_MAX_DELAY) * scale


def expired(config: RetryConfig, enqueued_at: float, at: float, scale: float) -> bool:
    return at - enqueued_at > config.maximum_event_age_s * scale


def before_run(*, runs: int, config: RetryConfig, enqueued_at: float, now: float, scale: float = 1.0) -> Finish | None:
    """An event that became too old while it waited finishes without running; else None (run it)."""
    if expired(config, enqueued_at, now, scale):
        return Finish(EVENT_AGE_EXCEEDED, config.on_failure, runs)
    return None


def next_step(*, outcome: Outcome, runs: int, throttles: int, config: RetryConfig, enqueued_at: float,
              now: float, scale: float = 1.0) -> Step:
    """After an attempt that ended in `outcome`, the event having run `runs` times and been
    throttled `throttles` times before it."""
    if outcome is Outcome.GONE:
        return Drop()
    if outcome is Outcome.ZERO_CONCURRENCY:
        return Finish(ZERO_RESERVED_CONCURRENCY, config.on_failure, runs)
    runs += outcome in RAN
    throttles += outcome in HELD_BACK
    if outcome is Outcome.SUCCESS:
        return Finish(SUCCESS, config.on_success, runs)
    if outcome is Outcome.FUNCTION_ERROR:
        if runs > config.maximum_retry_attempts:
            return Finish(RETRIES_EXHAUSTED, config.on_failure, runs)
        at = now + function_error_delay(runs, scale)
    else:
        at = now + throttle_delay(throttles, scale)
    if expired(config, enqueued_at, at, scale):
        return Finish(EVENT_AGE_EXCEEDED, config.on_failure, runs)
    return Retry(at, runs, throttles)
