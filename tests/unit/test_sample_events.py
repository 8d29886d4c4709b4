"""lamina.sample_events: AWS's shapes, with what AWS derives computed from the fields given."""

from __future__ import annotations

import base64
import hashlib

from lamina import sample_events

NOW = 1796342400.123  # 2026-12-04T00:00:00.123Z


def test_sqs_record_derives_md5_and_arn():
    record = sample_events.sqs(body="hi", queue="orders", count=2, now=NOW)["Records"]
    assert len(record) == 2 and record[0]["messageId"] != record[1]["messageId"]
    assert record[0]["md5OfBody"] == hashlib.md5(b"hi").hexdigest()
    assert record[0]["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:orders"
    assert record[0]["attributes"]["SentTimestamp"] == "1796342400123"


def test_kinesis_data_is_base64_and_event_id_names_the_shard():
    record = sample_events.kinesis(data="x", partition_key="k", now=NOW)["Records"][0]
    assert base64.b64decode(record["kinesis"]["data"]) == b"x"
    assert record["eventID"] == "shardId-000000000000:" + record["kinesis"]["sequenceNumber"]


def test_dynamodb_images_follow_the_event_name():
    assert "OldImage" not in sample_events.dynamodb(event_name="INSERT", now=NOW)["Records"][0]["dynamodb"]
    removed = sample_events.dynamodb(event_name="REMOVE", keys={"Id": {"S": "a"}}, now=NOW)["Records"][0]["dynamodb"]
    assert "NewImage" not in removed and removed["OldImage"]["Id"] == {"S": "a"}


def test_schedule_is_on_the_minute():
    event = sample_events.schedule(rule="nightly", now=NOW + 45)
    assert event["time"] == "2026-12-04T00:00:00Z" and event["detail-type"] == "Scheduled Event"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/nightly"]


def test_url_event_splits_query_and_cookies():
    event = sample_events.url(method="post", path="/a", query="x=1&x=2&y=", body="b",
                              headers={"Cookie": "s=1; t=2", "X-Id": "7"}, now=NOW)
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["cookies"] == ["s=1", "t=2"] and "cookie" not in event["headers"]
    assert event["headers"]["x-id"] == "7" and event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["time"] == "04/Dec/2026:00:00:00 +0000" and event["body"] == "b"
