"""Sample events in the shapes AWS delivers them to a function, with the fields a user names filled in:
what `lamina event KIND` prints (like `sam local generate-event`), for `lamina invoke --event -`.

Each builder is pure apart from fresh ids and the current time (handed in as `now` for tests) and
derives what AWS derives (an SQS record's md5OfBody, a Kinesis record's base64 data and eventID,
an S3 object's ARN, the 2.0 event's rawQueryString and cookies). Imports nothing from lamina.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl


def _iso(now: float, millis: bool = True) -> str:
    moment = datetime.fromtimestamp(now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond // 1000:03d}Z" if millis else "Z")


def sqs(body: str = "Hello from SQS!", queue: str = "my-queue", count: int = 1, region: str = "us-east-1",
        account: str = "123456789012", now: float | None = None) -> dict:
    now = time.time() if now is None else now
    sent = str(int(now * 1000))
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": base64.b64encode(uuid.uuid4().bytes * 2).decode(),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": sent, "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                       "ApproximateFirstReceiveTimestamp": sent},
        "messageAttributes": {}, "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # noqa: S324 - AWS's digest
        "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:{region}:{account}:{queue}", "awsRegion": region,
    } for _ in range(count)]}


def s3(bucket: str = "example-bucket", key: str = "test/key", event_name: str = "ObjectCreated:Put",
       size: int = 1024, region: str = "us-east-1", now: float | None = None) -> dict:
    now = time.time() if now is None else now
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": region, "eventTime": _iso(now),
        "eventName": event_name, "userIdentity": {"principalId": "EXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": "EXAMPLE123/abcdefgh"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "testConfigRule",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": key, "size": size, "eTag": hashlib.md5(key.encode()).hexdigest(),  # noqa: S324
                          "sequencer": f"{int(now * 1000):016X}"}},
    }]}


def kinesis(data: str = "Hello, this is a test.", partition_key: str = "1", stream: str = "my-stream",
            count: int = 1, region: str = "us-east-1", account: str = "123456789012",
            now: float | None = None) -> dict:
    now = time.time() if now is None else now
    records = []
    for n in range(count):
        sequence = f"4959{int(now * 1000):020d}{n:022d}"
        records.append({
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": partition_key, "sequenceNumber": sequence,
                        "data": base64.b64encode(data.encode()).decode(), "approximateArrivalTimestamp": round(now, 3)},
            "eventSource": "aws:kinesis", "eventVersion": "1.0",
            "eventID": f"shardId-000000000000:{sequence}", "eventName": "aws:kinesis:record",
            "invokeIdentityArn": f"arn:aws:iam::{account}:role/lambda-role", "awsRegion": region,
            "eventSourceARN": f"arn:aws:kinesis:{region}:{account}:stream/{stream}",
        })
    return {"Records": records}


def dynamodb(table: str = "my-table", event_name: str = "INSERT", keys: dict | None = None,
             new_image: dict | None = None, old_image: dict | None = None, region: str = "us-east-1",
             account: str = "123456789012", now: float | None = None) -> dict:
    now = time.time() if now is None else now
    keys = keys if keys is not None else {"Id": {"N": "101"}}
    change: dict = {"ApproximateCreationDateTime": int(now), "Keys": keys,
                    "SequenceNumber": f"{int(now * 1000):021d}", "SizeBytes": 26,
                    "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if event_name in ("INSERT", "MODIFY"):
        change["NewImage"] = new_image if new_image is not None else {**keys, "Message": {"S": "New item!"}}
    if event_name in ("MODIFY", "REMOVE"):
        change["OldImage"] = old_image if old_image is not None else {**keys, "Message": {"S": "Old item!"}}
    stream_label = _iso(now).rstrip("Z")
    return {"Records": [{
        "eventID": uuid.uuid4().hex, "eventName": event_name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": region, "dynamodb": change,
        "eventSourceARN": f"arn:aws:dynamodb:{region}:{account}:table/{table}/stream/{stream_label}",
    }]}


def schedule(rule: str = "my-schedule", region: str = "us-east-1", account: str = "123456789012",
             now: float | None = None) -> dict:
    now = time.time() if now is None else now
    minute = now - now % 60
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": account, "time": _iso(minute, millis=False), "region": region,
            "resources": [f"arn:aws:events:{region}:{account}:rule/{rule}"], "detail": {}}


def url(method: str = "GET", path: str = "/", query: str = "", body: str | None = None,
        headers: dict[str, str] | None = None, region: str = "us-east-1", account: str = "123456789012",
        now: float | None = None) -> dict:
    """A function URL request (payload format 2.0), as lamina and AWS build it."""
    now = time.time() if now is None else now
    url_id = "abcdefghijklmnopqrstuvwxyz012345"
    domain = f"{url_id}.lambda-url.{region}.on.aws"
    lowered = {"host": domain, "user-agent": "lamina-event", "x-forwarded-proto": "https",
               **{k.lower(): v for k, v in (headers or {}).items()}}
    cookies = [c.strip() for c in lowered.pop("cookie", "").split(";") if c.strip()]
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        params[name] = f"{params[name]},{value}" if name in params else value
    event: dict = {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query}
    if cookies:
        event["cookies"] = cookies
    event["headers"] = lowered
    if params:
        event["queryStringParameters"] = params
    moment = datetime.fromtimestamp(now, UTC)
    event["requestContext"] = {
        "accountId": "anonymous", "apiId": url_id, "domainName": domain, "domainPrefix": url_id,
        "http": {"method": method.upper(), "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                 "userAgent": lowered["user-agent"]},
        "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
        "time": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now * 1000)}
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = False
    return event


BUILDERS = {"sqs": sqs, "s3": s3, "kinesis": kinesis, "dynamodb": dynamodb, "schedule": schedule, "url": url}


def json_argument(text: str) -> dict:
    """A JSON object given on the command line (DynamoDB keys and images, URL headers)."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("a JSON object is needed")
    return value
