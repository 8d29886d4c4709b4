"""lamina.queue.policy.next_step: AWS's retry, age and destination rules as a table."""

import pytest

from lamina.model import RetryConfig
from lamina.queue.policy import (
    EVENT_AGE_EXCEEDED,
    RETRIES_EXHAUSTED,
    SUCCESS,
    Finish,
    Retry,
    next_step,
    throttle_delay,
)

DEST = RetryConfig(on_success="arn:ok", on_failure="arn:fail")
T0 = 1000.0


@pytest.mark.parametrize(("outcome", "runs", "throttles", "config", "now", "expected"), [
    ("success", 1, 0, DEST, T0, Finish(SUCCESS, "arn:ok")),
    ("success", 3, 2, RetryConfig(), T0, Finish(SUCCESS, None)),
    ("function_error", 1, 0, DEST, T0, Retry(T0 + 60)),
    ("function_error", 2, 0, DEST, T0 + 60, Retry(T0 + 60 + 120)),
    ("function_error", 3, 0, DEST, T0 + 180, Finish(RETRIES_EXHAUSTED, "arn:fail")),
    ("function_error", 1, 0, RetryConfig(maximum_retry_attempts=0, on_failure="f"), T0, Finish(RETRIES_EXHAUSTED, "f")),
    ("function_error", 1, 0, RetryConfig(maximum_retry_attempts=1), T0, Retry(T0 + 60)),
    ("function_error", 2, 0, RetryConfig(maximum_retry_attempts=1), T0, Finish(RETRIES_EXHAUSTED, None)),
    ("function_error", 1, 0, RetryConfig(maximum_event_age_s=60, on_failure="f"), T0 + 30, Finish(EVENT_AGE_EXCEEDED, "f")),
    ("throttle", 0, 1, DEST, T0, Retry(T0 + 1)),
    ("throttle", 0, 4, DEST, T0, Retry(T0 + 8)),
    ("system_error", 0, 20, DEST, T0, Retry(T0 + 300)),
    ("throttle", 0, 3, RetryConfig(maximum_event_age_s=60, on_failure="f"), T0 + 58, Finish(EVENT_AGE_EXCEEDED, "f")),
])
def test_next_step(outcome, runs, throttles, config, now, expected):
    assert next_step(outcome=outcome, runs=runs, throttles=throttles, config=config, enqueued_at=T0, now=now) == expected


def test_scale_shrinks_every_delay_and_the_age_with_them():
    assert next_step(outcome="function_error", runs=1, throttles=0, config=RetryConfig(), enqueued_at=T0, now=T0,
                     scale=0.01) == Retry(T0 + 0.6)
    assert throttle_delay(30, 0.001) == pytest.approx(0.3)
    config = RetryConfig(maximum_event_age_s=60, on_failure="f")
    assert next_step(outcome="throttle", runs=0, throttles=1, config=config, enqueued_at=T0, now=T0 + 0.7,
                     scale=0.01) == Finish(EVENT_AGE_EXCEEDED, "f")
