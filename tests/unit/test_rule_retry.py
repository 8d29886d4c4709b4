"""lamina.rule_retry: a rule target's RetryPolicy and DeadLetterConfig as pure rules (tables)."""

from __future__ import annotations

import pytest

from lamina import rule_retry as r

THROTTLED = r.Failure(r.THROTTLING, "Rate Exceeded.")


@pytest.mark.parametrize(("target", "expected"), [
    ({}, r.RetryPolicy(185, 86_400)),
    ({"RetryPolicy": {}}, r.RetryPolicy(185, 86_400)),
    ({"RetryPolicy": {"MaximumRetryAttempts": 0}}, r.RetryPolicy(0, 86_400)),
    ({"RetryPolicy": {"MaximumEventAgeInSeconds": 60}}, r.RetryPolicy(185, 60)),
    ({"RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 120}}, r.RetryPolicy(3, 120)),
])
def test_policy_defaults(target, expected):
    assert r.policy_of(target) == expected


@pytest.mark.parametrize(("status", "code", "retryable"), [
    (404, "NO_RESOURCE", False), (403, "NO_PERMISSIONS", False), (429, "THROTTLING", True),
    (409, "RESOURCE_MODIFICATION_COLLISION", True), (400, "INVALID_PARAMETER", False),
    (413, "INVALID_PARAMETER", False), (500, "INTERNAL_ERROR", True), (503, "INTERNAL_ERROR", True),
])
def test_failure_of_status(status, code, retryable):
    failure = r.failure_of(status, "m")
    assert (failure.code, failure.retryable, failure.message) == (code, retryable, "m")


@pytest.mark.parametrize(("retry_number", "jitter", "scale", "expected"), [
    (1, 1.0, 1.0, 1.0), (1, 0.0, 1.0, 0.5), (2, 1.0, 1.0, 2.0), (4, 1.0, 1.0, 8.0), (9, 1.0, 1.0, 256.0),
    (10, 1.0, 1.0, 300.0), (185, 1.0, 1.0, 300.0), (185, 0.0, 1.0, 150.0), (3, 1.0, 0.01, 0.04),
])
def test_delay(retry_number, jitter, scale, expected):
    assert r.delay(retry_number, jitter, scale) == pytest.approx(expected)


@pytest.mark.parametrize(("failure", "retries", "now", "policy", "scale", "expected"), [
    (r.Failure(r.NO_RESOURCE, "m"), 0, 0.0, r.RetryPolicy(), 1.0, r.GiveUp(None)),
    (r.Failure(r.NO_PERMISSIONS, "m"), 0, 0.0, r.RetryPolicy(), 1.0, r.GiveUp(None)),
    (THROTTLED, 0, 0.0, r.RetryPolicy(), 1.0, r.Retry(1.0)),
    (THROTTLED, 2, 10.0, r.RetryPolicy(), 1.0, r.Retry(14.0)),
    (THROTTLED, 0, 0.0, r.RetryPolicy(0, 86_400), 1.0, r.GiveUp("MaximumRetryAttempts")),
    (THROTTLED, 3, 10.0, r.RetryPolicy(3, 86_400), 1.0, r.GiveUp("MaximumRetryAttempts")),
    (THROTTLED, 5, 31.0, r.RetryPolicy(185, 60), 1.0, r.GiveUp("MaximumEventAgeInSeconds")),
    (THROTTLED, 4, 15.0, r.RetryPolicy(185, 60), 1.0, r.Retry(31.0)),
    (THROTTLED, 4, 0.31, r.RetryPolicy(185, 60), 0.01, r.Retry(0.47)),
    (THROTTLED, 5, 0.31, r.RetryPolicy(185, 60), 0.01, r.GiveUp("MaximumEventAgeInSeconds")),
    (r.Failure(r.INTERNAL_ERROR, "m"), 184, 5.0, r.RetryPolicy(), 1.0, r.Retry(305.0)),
    (r.Failure(r.INTERNAL_ERROR, "m"), 185, 5.0, r.RetryPolicy(), 1.0, r.GiveUp("MaximumRetryAttempts")),
])
def test_next_step(failure, retries, now, policy, scale, expected):
    step = r.next_step(failure=failure, retries=retries, first_at=0.0, now=now, policy=policy, jitter=1.0,
                       scale=scale)
    if isinstance(expected, r.Retry):
        assert isinstance(step, r.Retry) and step.at == pytest.approx(expected.at)
    else:
        assert step == expected


def test_dead_letter_attributes():
    attributes = r.dead_letter_attributes(rule_arn="arn:rule", target_arn="arn:fn", failure=THROTTLED,
                                          condition="MaximumRetryAttempts", retries=185)
    assert attributes == {
        "RULE_ARN": {"DataType": "String", "StringValue": "arn:rule"},
        "TARGET_ARN": {"DataType": "String", "StringValue": "arn:fn"},
        "ERROR_CODE": {"DataType": "String", "StringValue": "THROTTLING"},
        "ERROR_MESSAGE": {"DataType": "String", "StringValue": "Rate Exceeded."},
        "EXHAUSTED_RETRY_CONDITION": {"DataType": "String", "StringValue": "MaximumRetryAttempts"},
        "RETRY_ATTEMPTS": {"DataType": "Number", "StringValue": "185"},
    }
    assert "EXHAUSTED_RETRY_CONDITION" not in r.dead_letter_attributes(
        rule_arn="a", target_arn="b", failure=r.Failure(r.NO_RESOURCE, "gone"), condition=None, retries=0)
