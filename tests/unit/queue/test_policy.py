"""lamina.queue.policy: AWS's retry, age, zero-concurrency and destination rules as tables.

`runs` and `throttles` are the counts before the attempt; the step carries the counts after it.
"""

import pytest

from lamina.model import RetryConfig
from lamina.queue.attempt import Outcome
from lamina.queue.policy import (
    EVENT_AGE_EXCEEDED,
    RETRIES_EXHAUSTED,
    SUCCESS,
    ZERO_RESERVED_CONCURRENCY,
    Drop,
    Finish,
    Retry,
    before_run,
    next_step,
    throttle_delay,
)

DEST = RetryConfig(on_success="arn:ok", on_failure="arn:fail")
T0 = 1000.0
OK, ERR, THROTTLE, SYSTEM = Outcome.SUCCESS, Outcome.FUNCTION_ERROR, Outcome.THROTTLE, Outcome.SYSTEM_ERROR


@pytest.mark.parametrize(("outcome", "runs", "throttles", "config", "now", "expected"), [
    (OK, 0, 0, DEST, T0, Finish(SUCCESS, "arn:ok", 1)),
    (OK, 2, 2, RetryConfig(), T0, Finish(SUCCESS, None, 3)),
    (ERR, 0, 0, DEST, T0, Retry(T0 + 60, 1, 0)),
    (ERR, 1, 0, DEST, T0 + 60, Retry(T0 + 60 + 120, 2, 0)),
    (ERR, 2, 0, DEST, T0 + 180, Finish(RETRIES_EXHAUSTED, "arn:fail", 3)),
    (ERR, 0, 0, RetryConfig(maximum_retry_attempts=0, on_failure="f"), T0, Finish(RETRIES_EXHAUSTED, "f", 1)),
    (ERR, 0, 0, RetryConfig(maximum_retry_attempts=1), T0, Retry(T0 + 60, 1, 0)),
    (ERR, 1, 0, RetryConfig(maximum_retry_attempts=1), T0, Finish(RETRIES_EXHAUSTED, None, 2)),
    (ERR, 0, 0, RetryConfig(maximum_event_age_s=60, on_failure="f"), T0 + 30, Finish(EVENT_AGE_EXCEEDED, "f", 1)),
    (ERR, 1, 3, DEST, T0, Retry(T0 + 120, 2, 3)),
    (THROTTLE, 0, 0, DEST, T0, Retry(T0 + 1, 0, 1)),
    (THROTTLE, 0, 3, DEST, T0, Retry(T0 + 8, 0, 4)),
    (SYSTEM, 1, 19, DEST, T0, Retry(T0 + 300, 1, 20)),
    (SYSTEM, 0, 0, DEST, T0, Retry(T0 + 1, 0, 1)),
    (THROTTLE, 0, 2, RetryConfig(maximum_event_age_s=60, on_failure="f"), T0 + 58, Finish(EVENT_AGE_EXCEEDED, "f", 0)),
    (Outcome.ZERO_CONCURRENCY, 0, 0, DEST, T0, Finish(ZERO_RESERVED_CONCURRENCY, "arn:fail", 0)),
    (Outcome.ZERO_CONCURRENCY, 2, 1, RetryConfig(), T0, Finish(ZERO_RESERVED_CONCURRENCY, None, 2)),
    (Outcome.GONE, 0, 0, DEST, T0, Drop()),
    (Outcome.GONE, 1, 0, RetryConfig(maximum_event_age_s=60), T0 + 3600, Drop()),
])
def test_next_step(outcome, runs, throttles, config, now, expected):
    assert next_step(outcome=outcome, runs=runs, throttles=throttles, config=config, enqueued_at=T0, now=now) == expected


@pytest.mark.parametrize(("runs", "config", "now", "expected"), [
    (0, DEST, T0, None),
    (0, RetryConfig(maximum_event_age_s=60, on_failure="f"), T0 + 60, None),
    (0, RetryConfig(maximum_event_age_s=60, on_failure="f"), T0 + 61, Finish(EVENT_AGE_EXCEEDED, "f", 0)),
    (2, RetryConfig(maximum_event_age_s=60), T0 + 61, Finish(EVENT_AGE_EXCEEDED, None, 2)),
])
def test_before_run_finishes_events_that_waited_too_long(runs, config, now, expected):
    assert before_run(runs=runs, config=config, enqueued_at=T0, now=now) == expected


def test_outcomes_are_an_enum_whose_values_are_the_old_strings():
    assert Outcome("throttle") is THROTTLE and OK == "success"


def test_scale_shrinks_every_delay_and_the_age_with_them():
    assert next_step(outcome=ERR, runs=0, throttles=0, config=RetryConfig(), enqueued_at=T0, now=T0,
                     scale=0.01) == Retry(T0 + 0.6, 1, 0)
    assert throttle_delay(30, 0.001) == pytest.approx(0.3)
    config = RetryConfig(maximum_event_age_s=60, on_failure="f")
    assert next_step(outcome=THROTTLE, runs=0, throttles=0, config=config, enqueued_at=T0, now=T0 + 0.7,
                     scale=0.01) == Finish(EVENT_AGE_EXCEEDED, "f", 0)
    assert before_run(runs=0, config=config, enqueued_at=T0, now=T0 + 0.61, scale=0.01) is not None
