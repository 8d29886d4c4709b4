"""Tumbling windows (lamina.pollers.stream_windows) and the on-failure record
(lamina.pollers.stream_failure), as tables."""

from __future__ import annotations

import pytest

from lamina.pollers import stream_failure, stream_windows

T = 1607497440.0  # 2020-12-09T07:04:00Z


@pytest.mark.parametrize(("arrivals", "length", "count"), [
    ([], 60, 0),
    ([T, T + 10, T + 59.9], 60, 3),
    ([T, T + 10, T + 60, T + 61], 60, 2),
    ([T + 119, T + 120], 120, 1),
])
def test_same_window(arrivals, length, count):
    assert stream_windows.same_window(arrivals, length) == count


@pytest.mark.parametrize(("now", "more", "final"), [
    (T + 59, False, False), (T + 60, False, True), (T + 60, True, False), (T + 500, False, True),
])
def test_is_final(now, more, final):
    assert stream_windows.is_final(T, 60, now, more) == final


def test_window_event():
    event = stream_windows.event([{"r": 1}], start=stream_windows.start_of(T + 5, 120), length=120,
                                 state={"1": 282}, shard_id="shardId-000000000000", source_arn="arn:s", final=False)
    assert event == {"Records": [{"r": 1}], "window": {"start": "2020-12-09T07:04:00Z", "end": "2020-12-09T07:06:00Z"},
                     "state": {"1": 282}, "shardId": "shardId-000000000000", "eventSourceARN": "arn:s",
                     "isFinalInvokeForWindow": False, "isWindowTerminatedEarly": False}


def failure(kind, **overrides):
    args = dict(kind=kind, request_id="r-1", function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
                condition="RetryAttemptsExhausted", invoke_count=2, function_error="Unhandled",
                executed_version="$LATEST", now=1657720081.0, shard_id="shardId-000000000000",
                first_sequence="1", last_sequence="2", first_arrival=1657720081.0, last_arrival=1657720081.25,
                batch_size=2, source_arn="arn:aws:kinesis:us-east-1:000000000000:stream/s")
    args.update(overrides)
    return stream_failure.failure_record(**args)


def test_kinesis_failure_record():
    assert failure("kinesis") == {
        "requestContext": {"requestId": "r-1", "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:f",
                           "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 2},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0", "timestamp": "2022-07-13T13:48:01.000Z",
        "KinesisBatchInfo": {"shardId": "shardId-000000000000", "startSequenceNumber": "1", "endSequenceNumber": "2",
                             "approximateArrivalOfFirstRecord": "2022-07-13T13:48:01.000Z",
                             "approximateArrivalOfLastRecord": "2022-07-13T13:48:01.250Z", "batchSize": 2,
                             "streamArn": "arn:aws:kinesis:us-east-1:000000000000:stream/s"},
    }


def test_dynamodb_failure_record_has_no_milliseconds_and_no_response_without_invoke():
    record = failure("dynamodb", condition="RecordAgeExceeded", invoke_count=0, function_error=None,
                     executed_version=None)
    assert "responseContext" not in record and "KinesisBatchInfo" not in record
    info = record["DDBStreamBatchInfo"]
    assert info["approximateArrivalOfFirstRecord"] == "2022-07-13T13:48:01Z"
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
