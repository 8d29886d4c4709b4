"""What happens to an EventBridge rule delivery that could not be made: the pure rules of a
target's RetryPolicy and DeadLetterConfig.

AWS's rules (reference 3.7, EventBridge guide "Event retry policy and using dead-letter queues"):
a delivery that fails with a retryable error (throttling, the service failing, a function being
updated) is retried with exponential back-off and jitter until MaximumRetryAttempts (default 185)
retries were made or the event is older than MaximumEventAgeInSeconds (default 86,400); errors
that retrying cannot cure (the function does not exist, EventBridge is not permitted to invoke it)
are not retried. Either way an event that is given up is sent to the target's dead-letter queue,
when it has one, with the message attributes RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE,
EXHAUSTED_RETRY_CONDITION (when retries ran out) and RETRY_ATTEMPTS. `scale` multiplies every delay
and the maximum event age (tests run in seconds, as LAMINA_ASYNC_BACKOFF_SCALE does for async
invokes). Imports nothing from lamina.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 185
DEFAULT_MAXIMUM_EVENT_AGE = 86_400
FIRST_DELAY = 1.0
MAX_DELAY = 300.0

MAXIMUM_RETRY_ATTEMPTS = "MaximumRetryAttempts"
MAXIMUM_EVENT_AGE = "MaximumEventAgeInSeconds"

# ERROR_CODE values of AWS's dead-letter messages for the failures lamina's delivery can meet.
NO_RESOURCE = "NO_RESOURCE"
NO_PERMISSIONS = "NO_PERMISSIONS"
THROTTLING = "THROTTLING"
RESOURCE_MODIFICATION_COLLISION = "RESOURCE_MODIFICATION_COLLISION"
INVALID_PARAMETER = "INVALID_PARAMETER"
INTERNAL_ERROR = "INTERNAL_ERROR"

RETRYABLE = frozenset({THROTTLING, RESOURCE_MODIFICATION_COLLISION, INTERNAL_ERROR})


@dataclass(frozen=True)
class RetryPolicy:
    maximum_retry_attempts: int = DEFAULT_MAXIMUM_RETRY_ATTEMPTS
    maximum_event_age_s: int = DEFAULT_MAXIMUM_EVENT_AGE


@dataclass(frozen=True)
class Failure:
    """Why one delivery attempt failed: AWS's DLQ ERROR_CODE and the error's message."""

    code: str
    message: str

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE


@dataclass(frozen=True)
class Retry:
    at: float


@dataclass(frozen=True)
class GiveUp:
    """Stop trying; `condition` is the EXHAUSTED_RETRY_CONDITION (None: the error is not retried)."""

    condition: str | None


def policy_of(target: dict) -> RetryPolicy:
    """A target's RetryPolicy with AWS's defaults for what it leaves out."""
    given = target.get("RetryPolicy") or {}
    attempts = given.get("MaximumRetryAttempts")
    age = given.get("MaximumEventAgeInSeconds")
    return RetryPolicy(DEFAULT_MAXIMUM_RETRY_ATTEMPTS if attempts is None else int(attempts),
                       DEFAULT_MAXIMUM_EVENT_AGE if age is None else int(age))


def failure_of(status: int, message: str) -> Failure:
    """The Failure of a Lambda error by its HTTP status: 404 gone, 403 not permitted, 429 throttled,
    409 the function is being created or updated, other 4xx invalid, 5xx lamina failing."""
    if status == 404:
        return Failure(NO_RESOURCE, message)
    if status == 403:
        return Failure(NO_PERMISSIONS, message)
    if status == 429:
        return Failure(THROTTLING, message)
    if status == 409:
        return Failure(RESOURCE_MODIFICATION_COLLISION, message)
    if 400 <= status < 500:
        return Failure(INVALID_PARAMETER, message)
    return Failure(INTERNAL_ERROR, message)


def delay(retry_number: int, jitter: float, scale: float = 1.0) -> float:
    """The wait before the n-th retry (1-based): 1 s, 2 s, 4 s ... capped at 5 minutes, of which
    `jitter` (0..1) keeps between half and all ("equal jitter")."""
    base = min(FIRST_DELAY * 2 ** min(retry_number - 1, 32), MAX_DELAY)
    return (base / 2 + base / 2 * jitter) * scale


def next_step(*, failure: Failure, retries: int, first_at: float, now: float, policy: RetryPolicy,
              jitter: float, scale: float = 1.0) -> Retry | GiveUp:
    """After an attempt failed with `failure`, `retries` retries having been made before it."""
    if not failure.retryable:
        return GiveUp(None)
    if retries >= policy.maximum_retry_attempts:
        return GiveUp(MAXIMUM_RETRY_ATTEMPTS)
    at = now + delay(retries + 1, jitter, scale)
    if at - first_at > policy.maximum_event_age_s * scale:
        return GiveUp(MAXIMUM_EVENT_AGE)
    return Retry(at)


def dead_letter_attributes(*, rule_arn: str, target_arn: str, failure: Failure, condition: str | None,
                           retries: int) -> dict[str, dict]:
    """The SQS MessageAttributes of a dead-letter message, as EventBridge sets them."""
    values = {"RULE_ARN": rule_arn, "TARGET_ARN": target_arn, "ERROR_CODE": failure.code,
              "ERROR_MESSAGE": failure.message[:256] or failure.code}
    if condition is not None:
        values["EXHAUSTED_RETRY_CONDITION"] = condition
    attributes = {key: {"DataType": "String", "StringValue": value} for key, value in values.items()}
    attributes["RETRY_ATTEMPTS"] = {"DataType": "Number", "StringValue": str(retries)}
    return attributes
