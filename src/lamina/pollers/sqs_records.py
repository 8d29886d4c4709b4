"""The SQS record of an event source mapping's event, exactly as AWS builds it from a received
message (reference 1.2): lower-camel keys, attribute values as strings, binary values in base64,
the always-present empty list members of message attributes. Pure; imports nothing from lamina.
"""

from __future__ import annotations

import base64


def _b64(value: bytes | str) -> str:
    return base64.b64encode(value if isinstance(value, bytes) else value.encode()).decode()


def message_attributes(attributes: dict) -> dict:
    out = {}
    for name, value in attributes.items():
        item: dict = {}
        if "StringValue" in value:
            item["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            item["binaryValue"] = _b64(value["BinaryValue"])
        item["stringListValues"] = list(value.get("StringListValues") or [])
        item["binaryListValues"] = [_b64(v) for v in value.get("BinaryListValues") or []]
        item["dataType"] = value["DataType"]
        out[name] = item
    return out


def sqs_record(message: dict, queue_arn: str, region: str) -> dict:
    """One `Records[]` item from a ReceiveMessage message (system and message attributes asked for)."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: str(v) for k, v in (message.get("Attributes") or {}).items()},
        "messageAttributes": message_attributes(message.get("MessageAttributes") or {}),
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record["md5OfBody"] = message.get("MD5OfBody", "")
    record["eventSource"] = "aws:sqs"
    record["eventSourceARN"] = queue_arn
    record["awsRegion"] = region
    return record
