"""Kinesis and DynamoDB Streams records in AWS's shapes (lamina.pollers.stream_records), tables of
boto3 GetRecords items → event records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lamina.pollers import stream_records as sr

STREAM = "arn:aws:kinesis:us-east-1:000000000000:stream/s"
TABLE_STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/2024-01-01T00:00:00.000"
ROLE = "arn:aws:iam::000000000000:role/r"


def test_kinesis_record():
    raw = {"SequenceNumber": "4959", "ApproximateArrivalTimestamp": datetime(2018, 12, 17, 22, 10, 50, 987000, UTC),
           "Data": b"Hello", "PartitionKey": "1"}
    record = sr.kinesis_record(raw, shard_id="shardId-000000000006", stream_arn=STREAM, region="us-east-1",
                               role_arn=ROLE)
    assert record == {
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "1", "sequenceNumber": "4959",
                    "data": "SGVsbG8=", "approximateArrivalTimestamp": 1545084650.987},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": "shardId-000000000006:4959",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": ROLE, "awsRegion": "us-east-1",
        "eventSourceARN": STREAM,
    }
    assert list(record) == ["kinesis", "eventSource", "eventVersion", "eventID", "eventName", "invokeIdentityArn",
                            "awsRegion", "eventSourceARN"]
    assert (sr.sequence_of(record), sr.arrival_of(record), sr.partition_key_of(record)) == ("4959", 1545084650.987, "1")


def ddb(event_name, view, *, old=None, new=None):
    change = {"ApproximateCreationDateTime": datetime(2016, 11, 18, 20, 9, 0, tzinfo=UTC),
              "Keys": {"Id": {"N": "101"}}, "SequenceNumber": "111", "SizeBytes": 26, "StreamViewType": view}
    if old is not None:
        change["OldImage"] = old
    if new is not None:
        change["NewImage"] = new
    return {"eventID": "c4ca", "eventName": event_name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": change}


NEW = {"Id": {"N": "101"}, "Message": {"S": "New item!"}}
OLD = {"Id": {"N": "101"}, "Message": {"S": "Old"}}


@pytest.mark.parametrize(("raw", "images"), [
    (ddb("INSERT", "NEW_AND_OLD_IMAGES", new=NEW), {"NewImage": NEW}),
    (ddb("MODIFY", "NEW_AND_OLD_IMAGES", old=OLD, new=NEW), {"NewImage": NEW, "OldImage": OLD}),
    (ddb("REMOVE", "NEW_AND_OLD_IMAGES", old=OLD), {"OldImage": OLD}),
    (ddb("MODIFY", "KEYS_ONLY", old=OLD, new=NEW), {}),
    (ddb("MODIFY", "NEW_IMAGE", old=OLD, new=NEW), {"NewImage": NEW}),
    (ddb("MODIFY", "OLD_IMAGE", old=OLD, new=NEW), {"OldImage": OLD}),
])
def test_dynamodb_record_images_per_view_type(raw, images):
    record = sr.dynamodb_record(raw, stream_arn=TABLE_STREAM, region="us-east-1")
    assert list(record) == ["eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
                            "eventSourceARN"]
    assert record["eventVersion"] == "1.1" and record["eventName"] == raw["eventName"]
    body = record["dynamodb"]
    assert body["ApproximateCreationDateTime"] == 1479499740
    assert body["Keys"] == {"Id": {"N": "101"}}
    assert {k: v for k, v in body.items() if k.endswith("Image")} == images
    assert (body["SequenceNumber"], body["SizeBytes"], body["StreamViewType"]) == ("111", 26, raw["dynamodb"]["StreamViewType"])
    assert sr.sequence_of(record) == "111" and sr.arrival_of(record) == 1479499740


@pytest.mark.parametrize(("value", "wire"), [
    ({"S": "x"}, {"S": "x"}),
    ({"B": b"\x00\x01"}, {"B": "AAE="}),
    ({"BS": [b"a", b"b"]}, {"BS": ["YQ==", "Yg=="]}),
    ({"M": {"inner": {"B": b"a"}, "n": {"N": "1"}}}, {"M": {"inner": {"B": "YQ=="}, "n": {"N": "1"}}}),
    ({"L": [{"B": b"a"}, {"BOOL": True}, {"NULL": True}]}, {"L": [{"B": "YQ=="}, {"BOOL": True}, {"NULL": True}]}),
    ({"SS": ["a"]}, {"SS": ["a"]}),
])
def test_attribute_values_on_the_wire(value, wire):
    assert sr.attribute_value(value) == wire


def test_ttl_delete_carries_the_service_identity():
    raw = ddb("REMOVE", "KEYS_ONLY")
    raw["userIdentity"] = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
    record = sr.dynamodb_record(raw, stream_arn=TABLE_STREAM, region="us-east-1")
    assert record["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def test_filter_views():
    kinesis = sr.kinesis_record({"SequenceNumber": "1", "ApproximateArrivalTimestamp": 1.0,
                                 "Data": b'{"temperature": 30}', "PartitionKey": "p"},
                                shard_id="s", stream_arn=STREAM, region="us-east-1", role_arn=ROLE)
    assert sr.filter_view(kinesis)["data"] == {"temperature": 30}
    assert sr.filter_view(kinesis)["partitionKey"] == "p"
    text = dict(kinesis, kinesis=dict(kinesis["kinesis"], data="aGk="))
    assert sr.filter_view(text)["data"] == "hi"
    record = sr.dynamodb_record(ddb("INSERT", "NEW_IMAGE", new=NEW), stream_arn=TABLE_STREAM, region="us-east-1")
    assert sr.filter_view(record) is record
