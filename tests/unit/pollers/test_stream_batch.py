"""The stream batch policy (lamina.pollers.stream_batch) as tables."""

from __future__ import annotations

import json

import pytest

from lamina.pollers.stream_batch import (
    FAILED,
    RECORD_AGE_EXCEEDED,
    RETRY_ATTEMPTS_EXHAUSTED,
    Answer,
    Progress,
    Step,
    StreamConfig,
    after_invoke,
    expired,
    lane_of,
    read_answer,
    retry_delay,
)

SEQS = ["100", "200", "300", "400"]


def test_config_defaults_and_members():
    assert StreamConfig.of({}) == StreamConfig()
    config = StreamConfig.of({"BatchSize": 5, "MaximumRetryAttempts": 2, "MaximumRecordAgeInSeconds": 60,
                              "BisectBatchOnFunctionError": True, "FunctionResponseTypes": ["ReportBatchItemFailures"],
                              "TumblingWindowInSeconds": 30, "ParallelizationFactor": 3,
                              "MaximumBatchingWindowInSeconds": 2})
    assert config == StreamConfig(5, 2, 60, True, True, 30, 3, 2.0)


@pytest.mark.parametrize(("arrivals", "now", "max_age", "count"), [
    ([0, 10, 20], 1000, -1, 0),
    ([0, 10, 20], 70, 60, 1),
    ([0, 10, 20], 80, 60, 2),  # age 60 exactly is not past it
    ([0, 10, 20], 81, 60, 3),
    ([0, 100, 5], 101, 60, 1),  # a prefix only
    ([], 10, 60, 0),
])
def test_expired(arrivals, now, max_age, count):
    assert expired(arrivals, now, max_age) == count


def answer(payload, *, error=None, report=True, window=False):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return read_answer(data, SEQS, function_error=error, report_item_failures=report, window=window)


@pytest.mark.parametrize(("payload", "kwargs", "expected"), [
    ("anything", {"error": "Unhandled"}, FAILED),
    (b"not json", {"report": False}, Answer(ok=True)),  # the feature off: the response is ignored
    (None, {}, Answer(ok=True)),
    ({}, {}, Answer(ok=True)),
    ({"batchItemFailures": []}, {}, Answer(ok=True)),
    ({"batchItemFailures": None}, {}, Answer(ok=True)),
    ({"batchItemFailures": [{"itemIdentifier": "300"}]}, {}, Answer(ok=False, failed_at=2)),
    ({"batchItemFailures": [{"itemIdentifier": "400"}, {"itemIdentifier": "200"}]}, {},
     Answer(ok=False, failed_at=1)),  # the lowest listed sequence number
    ({"batchItemFailures": [{"itemIdentifier": "100"}]}, {}, Answer(ok=False, failed_at=0)),
    ({"batchItemFailures": [{"itemIdentifier": ""}]}, {}, FAILED),
    ({"batchItemFailures": [{"itemIdentifier": None}]}, {}, FAILED),
    ({"batchItemFailures": [{"id": "300"}]}, {}, FAILED),
    ({"batchItemFailures": [{"itemIdentifier": "999"}]}, {}, FAILED),
    ({"batchItemFailures": "300"}, {}, FAILED),
    (b"not json", {}, FAILED),
    ([1, 2], {}, FAILED),
    ({"state": {"n": 1}}, {"window": True, "report": False}, Answer(ok=True, state={"n": 1})),
    ({"batchItemFailures": []}, {"window": True}, FAILED),  # a window's answer must carry state
    (None, {"window": True}, FAILED),
    ({"state": {"n": 2}, "batchItemFailures": [{"itemIdentifier": "200"}]}, {"window": True},
     Answer(ok=False, failed_at=1, state={"n": 2})),
])
def test_read_answer(payload, kwargs, expected):
    assert answer(payload, **kwargs) == expected


PLAIN = StreamConfig()
BISECT = StreamConfig(bisect=True)
TWO_RETRIES = StreamConfig(max_retries=2)
NO_RETRIES = StreamConfig(max_retries=0)
BISECT_ONE_RETRY = StreamConfig(bisect=True, max_retries=1)


@pytest.mark.parametrize(("size", "ans", "attempts", "config", "step"), [
    (4, Answer(ok=True), 3, PLAIN, Step(commit=4)),
    # function error: retried forever by default, with back-off
    (4, FAILED, 0, PLAIN, Step(attempts=1, size=4, delay=1.0)),
    (4, FAILED, 5, PLAIN, Step(attempts=6, size=4, delay=32.0)),
    # MaximumRetryAttempts: given up after that many retries
    (4, FAILED, 1, TWO_RETRIES, Step(attempts=2, size=4, delay=2.0)),
    (4, FAILED, 2, TWO_RETRIES, Step(discard=4, condition=RETRY_ATTEMPTS_EXHAUSTED)),
    (4, FAILED, 0, NO_RETRIES, Step(discard=4, condition=RETRY_ATTEMPTS_EXHAUSTED)),
    # partial failure: checkpoint before the first failed record, retry from it
    (4, Answer(ok=False, failed_at=2), 0, PLAIN, Step(commit=2, attempts=1, size=2, delay=1.0)),
    (4, Answer(ok=False, failed_at=2), 2, TWO_RETRIES, Step(commit=2, discard=2, condition=RETRY_ATTEMPTS_EXHAUSTED)),
    # bisect: halve without using an attempt, down to the single bad record
    (4, FAILED, 0, BISECT, Step(attempts=0, size=2)),
    (3, FAILED, 0, BISECT, Step(attempts=0, size=2)),
    (1, FAILED, 0, BISECT, Step(attempts=1, size=1, delay=1.0)),
    (1, FAILED, 1, BISECT_ONE_RETRY, Step(discard=1, condition=RETRY_ATTEMPTS_EXHAUSTED)),
    # bisect with a partial answer: split at the returned sequence number
    (4, Answer(ok=False, failed_at=3), 0, BISECT, Step(commit=3, attempts=1, size=1, delay=1.0)),
    (4, Answer(ok=False, failed_at=0), 0, BISECT, Step(attempts=0, size=2)),
    # not run (throttled): back-off, no attempt used
    (4, None, 2, TWO_RETRIES, Step(attempts=2, size=4, delay=4.0)),
])
def test_after_invoke(size, ans, attempts, config, step):
    assert after_invoke(size, ans, attempts, config) == step


def test_retry_delay_is_capped_and_scaled():
    assert [retry_delay(n) for n in (1, 2, 3, 7, 8, 20)] == [1, 2, 4, 60, 60, 60]
    assert retry_delay(3, scale=0.1) == pytest.approx(0.4)


def test_lanes_keep_a_key_in_one_lane():
    assert lane_of("anything", 1) == 0
    lanes = {lane_of(f"key-{n}", 4) for n in range(100)}
    assert lanes == {0, 1, 2, 3}
    assert all(lane_of("same", 4) == lane_of("same", 4) for _ in range(3))


@pytest.mark.parametrize(("finished", "checkpoints"), [
    ([["1", "2"], ["3"]], ["2", "3"]),
    ([["2"], ["3"], ["1"]], [None, None, "3"]),  # a later lane's records wait for the earlier ones
    ([["1", "3"], ["4"], ["2"]], ["1", None, "4"]),
])
def test_progress_checkpoints_the_finished_prefix(finished, checkpoints):
    progress = Progress()
    progress.read(["1", "2", "3", "4"])
    assert [progress.finish(batch) for batch in finished] == checkpoints


def test_conditions_are_awss():
    assert (RETRY_ATTEMPTS_EXHAUSTED, RECORD_AGE_EXCEEDED) == ("RetryAttemptsExhausted", "RecordAgeExceeded")
