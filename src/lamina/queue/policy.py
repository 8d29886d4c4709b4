"""What happens to an asynchronous event after an attempt: the pure `next_step` function.

AWS's rules (reference 3.2): function errors are retried up to MaximumRetryAttempts times,
about 1 minute after the first failure and 2 minutes after the second; throttles and system
errors go back to the queue with exponential back-off from 1 s, capped at 5 minutes, until
MaximumEventAgeInSeconds runs out. `scale` shrinks every delay (tests run in seconds).
Imports lamina.model only.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.model import RetryConfig

SUCCESS = "Success"
RETRIES_EXHAUSTED = "RetriesExhausted"
EVENT_AGE_EXCEEDED = "EventAgeExceeded"

FUNCTION_ERROR_DELAYS = (60.0, 120.0)
THROTTLE_FIRST_DELAY = 1.0
THROTTLE_MAX_DELAY = 300.0


@dataclass(frozen=True)
class Retry:
    at: float


@dataclass(frozen=True)
class Finish:
    """The event is done; `destination` (if any) receives a record with `condition`."""

    condition: str
    destination: str | None


Step = Retry | Finish


def function_error_delay(retry_number: int, scale: float) -> float:
    """Delay before the n-th retry (1-based) after a function error."""
    index = min(retry_number, len(FUNCTION_ERROR_DELAYS)) - 1
    return FUNCTION_ERROR_DELAYS[index] * scale


def throttle_delay(throttles: int, scale: float) -> float:
    """Delay after the n-th throttle or system error (1-based): 1 s, 2 s, 4 s, ... capped at 5 min."""
    return min(THROTTLE_FIRST_DELAY * 2 ** (throttles - 1), THROTTLE_MAX_DELAY) * scale


def expired(config: RetryConfig, enqueued_at: float, at: float, scale: float) -> bool:
    return at - enqueued_at > config.maximum_event_age_s * scale


def next_step(*, outcome: str, runs: int, throttles: int, config: RetryConfig, enqueued_at: float,
              now: float, scale: float = 1.0) -> Step:
    """After an attempt that ended in `outcome` ("success" | "function_error" | "throttle" |
    "system_error"), having run the function `runs` times and been throttled `throttles` times."""
    if outcome == "success":
        return Finish(SUCCESS, config.on_success)
    if outcome == "function_error":
        if runs > config.maximum_retry_attempts:
            return Finish(RETRIES_EXHAUSTED, config.on_failure)
        at = now + function_error_delay(runs, scale)
    else:
        at = now + throttle_delay(max(throttles, 1), scale)
    if expired(config, enqueued_at, at, scale):
        return Finish(EVENT_AGE_EXCEEDED, config.on_failure)
    return Retry(at)
