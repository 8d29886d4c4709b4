"""What an S3 notification body holds (lamina.api.s3_events.read_records), as a table."""

from __future__ import annotations

import json

import pytest

from lamina.api.s3_events import read_records
from lamina.errors import InvalidRequestContentException

RECORD = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}


@pytest.mark.parametrize(("body", "expected"), [
    ({"Records": [RECORD]}, [RECORD]),
    ({"EventName": "s3:ObjectCreated:Put", "Key": "b/k", "Records": [RECORD, RECORD]}, [RECORD, RECORD]),
    ({"Service": "Amazon S3", "Event": "s3:TestEvent"}, []),
    (b"nope", "the body is not JSON"),
    ([RECORD], "expected a JSON object"),
    ({}, "non-empty \"Records\" list"),
    ({"Records": []}, "non-empty \"Records\" list"),
    ({"Records": [{"s3": {}}]}, "Records[0] is not an S3 event record"),
    ({"Records": [RECORD, {"eventName": "x", "s3": "k"}]}, "Records[1] is not an S3 event record"),
])
def test_read_records(body, expected):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if isinstance(expected, list):
        assert read_records(data) == expected
    else:
        with pytest.raises(InvalidRequestContentException) as info:
            read_records(data)
        assert expected in info.value.message
