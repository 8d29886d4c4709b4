"""The records a Kinesis or DynamoDB Streams mapping hands a function, in AWS's exact shapes
(reference 1.3, 1.4), built from what boto3's GetRecords returns; and the facts the stream
policies read of them (sequence number, arrival time, partition key).

Pure: no I/O, no clocks. Imports nothing from lamina.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any


def epoch_seconds(value: Any) -> float:
    """boto3 gives datetimes; moto and raw JSON may give epoch numbers."""
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value or 0.0)


def _millis(seconds: float) -> float:
    """Epoch seconds as a JSON number with (at most) a millisecond fraction, as AWS writes them."""
    return round(seconds, 3)


def kinesis_record(raw: dict, *, shard_id: str, stream_arn: str, region: str, role_arn: str) -> dict:
    """One `Records[]` item of a Kinesis event (reference 1.3)."""
    sequence = raw["SequenceNumber"]
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": raw["PartitionKey"],
            "sequenceNumber": sequence,
            "data": base64.b64encode(bytes(raw.get("Data") or b"")).decode(),
            "approximateArrivalTimestamp": _millis(epoch_seconds(raw.get("ApproximateArrivalTimestamp"))),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def attribute_value(value: Any) -> Any:
    """A DynamoDB attribute value as the wire carries it: binary members (B, BS) base64 text,
    nested maps and lists converted the same way; the rest unchanged."""
    if not isinstance(value, dict):
        return value
    out: dict = {}
    for kind, member in value.items():
        if kind == "B":
            out[kind] = _b64(member)
        elif kind == "BS":
            out[kind] = [_b64(item) for item in member]
        elif kind == "M":
            out[kind] = {name: attribute_value(item) for name, item in member.items()}
        elif kind == "L":
            out[kind] = [attribute_value(item) for item in member]
        else:
            out[kind] = member
    return out


def _b64(member: Any) -> str:
    if isinstance(member, (bytes, bytearray)):
        return base64.b64encode(bytes(member)).decode()
    return str(member)  # already base64 text


def _image(image: dict) -> dict:
    return {name: attribute_value(value) for name, value in image.items()}


# Which images a record carries per StreamViewType (reference 1.4).
IMAGES = {
    "KEYS_ONLY": (),
    "NEW_IMAGE": ("NewImage",),
    "OLD_IMAGE": ("OldImage",),
    "NEW_AND_OLD_IMAGES": ("NewImage", "OldImage"),
}


def dynamodb_record(raw: dict, *, stream_arn: str, region: str) -> dict:
    """One `Records[]` item of a DynamoDB Streams event (reference 1.4)."""
    change = raw.get("dynamodb") or {}
    view = change.get("StreamViewType", "NEW_AND_OLD_IMAGES")
    created = epoch_seconds(change.get("ApproximateCreationDateTime"))
    body: dict = {
        "ApproximateCreationDateTime": int(created) if created == int(created) else _millis(created),
        "Keys": _image(change.get("Keys") or {}),
    }
    for image in IMAGES.get(view, ("NewImage", "OldImage")):
        if change.get(image) is not None:
            body[image] = _image(change[image])
    body["SequenceNumber"] = change["SequenceNumber"]
    body["SizeBytes"] = int(change.get("SizeBytes") or 0)
    body["StreamViewType"] = view
    record = {
        "eventID": raw.get("eventID", ""),
        "eventName": raw.get("eventName", ""),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }
    if raw.get("userIdentity"):
        record["userIdentity"] = {"type": raw["userIdentity"].get("Type", raw["userIdentity"].get("type")),
                                  "principalId": raw["userIdentity"].get("PrincipalId",
                                                                         raw["userIdentity"].get("principalId"))}
    return record


# -- what the policies read of a record ------------------------------------------------------

def sequence_of(record: dict) -> str:
    """The record's sequence number: also its `itemIdentifier` for partial batch failures."""
    if "kinesis" in record:
        return record["kinesis"]["sequenceNumber"]
    return record["dynamodb"]["SequenceNumber"]


def arrival_of(record: dict) -> float:
    """Epoch seconds the record reached the stream."""
    if "kinesis" in record:
        return float(record["kinesis"]["approximateArrivalTimestamp"])
    return float(record["dynamodb"]["ApproximateCreationDateTime"])


def partition_key_of(record: dict) -> str:
    """What ParallelizationFactor keeps in order: the Kinesis partition key, the DynamoDB item key."""
    if "kinesis" in record:
        return record["kinesis"]["partitionKey"]
    return json.dumps(record["dynamodb"].get("Keys") or {}, sort_keys=True)


def filter_view(record: dict) -> dict:
    """The record as FilterCriteria patterns see it (reference 1.13): for Kinesis, the `kinesis`
    member (partitionKey, sequenceNumber, ...) with `data` decoded, parsed when it is JSON; for
    DynamoDB, the record as delivered (`eventName`, `dynamodb.Keys`, `dynamodb.NewImage`...)."""
    if "kinesis" not in record:
        return record
    view = dict(record["kinesis"])
    raw = base64.b64decode(record["kinesis"]["data"])
    try:
        view["data"] = json.loads(raw)
    except ValueError:
        view["data"] = raw.decode("utf-8", "replace")
    return view
