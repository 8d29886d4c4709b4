"""Table tests of the pollers' batch policy: partial batch responses, FIFO hold-back, payload
splitting, filters and SQS worker scaling."""

from __future__ import annotations

import json

import pytest

from lamina.pollers import batches
from lamina.pollers.sqs_records import sqs_record

IDS = ["a", "b", "c"]


@pytest.mark.parametrize("error, payload, reports, failed", [
    (None, b"null", False, set()),
    ("Unhandled", b'{"errorMessage": "x"}', False, set(IDS)),
    ("Unhandled", b'{"batchItemFailures": []}', True, set(IDS)),
    (None, b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', False, set()),
    (None, b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', True, {"b"}),
    (None, b"", True, set()),
    (None, b"null", True, set()),
    (None, b"{}", True, set()),
    (None, b'{"batchItemFailures": []}', True, set()),
    (None, b'{"batchItemFailures": null}', True, set()),
    (None, b'{"batchItemFailures": [{"itemIdentifier": ""}]}', True, set(IDS)),
    (None, b'{"batchItemFailures": [{"itemIdentifier": null}]}', True, set(IDS)),
    (None, b'{"batchItemFailures": [{"id": "a"}]}', True, set(IDS)),
    (None, b'{"batchItemFailures": [{"itemIdentifier": "zzz"}]}', True, set(IDS)),
    (None, b'{"batchItemFailures": "a"}', True, set(IDS)),
    (None, b"not json", True, set(IDS)),
    (None, b'"done"', True, set(IDS)),
])
def test_failed_items(error, payload, reports, failed):
    assert batches.failed_items(error, payload, IDS, reports) == failed


@pytest.mark.parametrize("records, failed, held", [
    ([("1", "g"), ("2", "g"), ("3", "h"), ("4", "g")], {"2"}, {"2", "4"}),
    ([("1", "g"), ("2", "h"), ("3", "h")], {"1"}, {"1"}),
    ([("1", "g"), ("2", "g")], set(), set()),
])
def test_fifo_holds_back_later_messages_of_a_failed_group(records, failed, held):
    assert batches.hold_back_groups(records, failed) == held


@pytest.mark.parametrize("sizes, limit, ranges", [
    ([10, 10, 10], 100, [range(0, 3)]),
    ([40, 40, 40], 100, [range(0, 2), range(2, 3)]),
    ([200, 10], 100, [range(0, 1), range(1, 2)]),
    ([], 100, []),
])
def test_split_by_size(sizes, limit, ranges):
    assert batches.split_by_size(sizes, limit) == ranges


def test_filters_see_json_bodies():
    keep = batches.record_filter({"Filters": [{"Pattern": json.dumps({"body": {"kind": ["a"]}})},
                                              {"Pattern": json.dumps({"body": ["plain"]})}]},
                                 "body", batches.json_or_text)
    assert keep({"body": '{"kind": "a"}'})
    assert not keep({"body": '{"kind": "b"}'})
    assert keep({"body": "plain"})
    assert not keep({"body": "{not json"})
    assert batches.record_filter(None) is None


@pytest.mark.parametrize("current, full, empty, maximum, expected", [
    (2, True, False, 20, 3), (20, True, False, 20, 20), (3, False, True, 20, 2), (2, False, True, 20, 2),
    (5, False, False, 3, 3), (2, False, True, 2, 2),
])
def test_worker_scaling(current, full, empty, maximum, expected):
    assert batches.next_worker_count(current, full=full, empty=empty, maximum=maximum) == expected


def test_sqs_record_shape():
    message = {"MessageId": "m1", "ReceiptHandle": "rh", "MD5OfBody": "md5", "Body": "hi",
               "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
               "MD5OfMessageAttributes": "md5a",
               "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1"},
                                     "b": {"DataType": "Binary", "BinaryValue": b"\xff"}}}
    record = sqs_record(message, "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1")
    assert record == {
        "messageId": "m1", "receiptHandle": "rh", "body": "hi",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        "messageAttributes": {
            "n": {"stringValue": "1", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
            "b": {"binaryValue": "/w==", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"}},
        "md5OfMessageAttributes": "md5a", "md5OfBody": "md5", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q", "awsRegion": "us-east-1"}
