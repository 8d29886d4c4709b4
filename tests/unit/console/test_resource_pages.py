"""lamina.console.resource_pages' row shaping: a function ARN's page and label, a mapping's source,
LastModified as the lists show it."""

import datetime

import pytest

from lamina.console.resource_pages import function_of, source_of, when

FN = "arn:aws:lambda:us-east-1:000000000000:function"


@pytest.mark.parametrize(("arn", "expected"), [
    (f"{FN}:orders", ("orders", "orders")),
    (f"{FN}:orders:live", ("orders", "orders:live")),
    (f"{FN}:orders:7", ("orders", "orders:7")),
    (f"{FN}:orders:$LATEST", ("orders", "orders:$LATEST")),
    ("not-an-arn", ("not-an-arn", "not-an-arn")),
    ("", ("", "")),
])
def test_function_of(arn, expected):
    assert function_of(arn) == expected


@pytest.mark.parametrize(("mapping", "expected"), [
    ({"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:q"}, ("arn:aws:sqs:us-east-1:000000000000:q", "")),
    ({"EventSourceArn": "arn:aws:mq:us-east-1:000000000000:broker:b:id", "Queues": ["jobs"]},
     ("arn:aws:mq:us-east-1:000000000000:broker:b:id", "Queues: jobs")),
    ({"EventSourceArn": "arn:aws:kafka:us-east-1:000000000000:cluster/c/id", "Topics": ["t1", "t2"]},
     ("arn:aws:kafka:us-east-1:000000000000:cluster/c/id", "Topics: t1, t2")),
    ({"SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["a:9092", "b:9092"]}}, "Topics": ["t"]},
     ("Self-managed Apache Kafka: a:9092, b:9092", "Topics: t")),
    ({"SelfManagedEventSource": {"Endpoints": {"OTHER": ["x"]}}}, ("OTHER: x", "")),
    ({}, ("—", "")),
])
def test_source_of(mapping, expected):
    assert source_of(mapping) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-12-06T17:51:25.123+0000", "2026-12-06 17:51:25"),
    (datetime.datetime(2026, 12, 6, 18, 51, 25, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
     "2026-12-06 17:51:25"),
    (datetime.datetime(2026, 12, 6, 17, 51, 25), "2026-12-06 17:51:25"),
    (None, ""),
])
def test_when(value, expected):
    assert when(value) == expected
