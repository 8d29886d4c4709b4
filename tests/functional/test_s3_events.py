"""S3 event notifications through lamina's webhook endpoint (POST /_lamina/s3-events/NAME), as an
S3-compatible store's webhook target sends them: each record invokes the function asynchronously."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request

import pytest

from support import REGION, ROLE, LaminaProcess, client_for, make_zip, source_env, wait_for

APP = """import json, os
def handler(event, context):
    print("S3EVENT " + json.dumps(event))
    print("S3TRACE " + json.dumps({"key": event["Records"][0]["s3"]["object"]["key"],
                                   "trace": os.environ.get("_X_AMZN_TRACE_ID")}))
"""


def s3_record(key: str, event_name: str = "ObjectCreated:Put") -> dict:
    """A record in AWS's S3 event message format (eventVersion 2.1), as MinIO's webhook sends it."""
    return {
        "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "", "eventTime": "2024-01-01T00:00:00.000Z",
        "eventName": f"s3:{event_name}", "userIdentity": {"principalId": "minioadmin"},
        "requestParameters": {"principalId": "minioadmin", "region": "", "sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "17A", "x-minio-origin-endpoint": "http://127.0.0.1:9000"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config",
               "bucket": {"name": "photos", "ownerIdentity": {"principalId": "minioadmin"},
                          "arn": "arn:aws:s3:::photos"},
               "object": {"key": key, "size": 5, "eTag": "5d41402abc4b2a76b9719d911017c592",
                          "contentType": "text/plain", "sequencer": "17A0"}},
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory, moto_server):
    process = LaminaProcess(tmp_path_factory.mktemp("s3events") / "data", env=source_env(moto_server)).start()
    client = client_for(process.url)
    client.create_function(FunctionName="on-upload", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                           Code={"ZipFile": make_zip({"app.py": APP})})
    client.get_waiter("function_active_v2").wait(FunctionName="on-upload")
    yield process
    process.stop()


def post(server, name: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(f"{server.url}/_lamina/s3-events/{name}", data=body, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def delivered(server, count: int, timeout: float = 30.0, *, prefix: str = "S3EVENT ") -> list[dict]:
    found: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(server.data_dir / "lamina.db") as db:
            found = [json.loads(m[len(prefix):]) for (m,) in db.execute(
                "SELECT message FROM log_events WHERE log_group = '/aws/lambda/on-upload' ORDER BY id")
                if m.startswith(prefix)]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"the function received {len(found)} events, expected {count}")


def test_each_record_invokes_the_function_asynchronously(server):
    first, second = s3_record("a.txt"), s3_record("b.txt", "ObjectRemoved:Delete")
    message = {"EventName": "s3:ObjectCreated:Put", "Key": "photos/a.txt", "Records": [first, second]}
    status, body = post(server, "on-upload", json.dumps(message).encode())
    assert status == 202 and body["Invoked"] == 2 and len(body["RequestIds"]) == 2
    events = delivered(server, 2)
    assert sorted(events, key=lambda e: e["Records"][0]["s3"]["object"]["key"]) == [
        {"Records": [first]}, {"Records": [second]}]


def test_a_webhooks_trace_header_is_continued_by_each_records_invoke(server):
    root = "Root=1-5759e988-bd862e3fe1be46a994272793"
    message = {"Records": [s3_record("traced-1.txt"), s3_record("traced-2.txt")]}
    status, _ = post(server, "on-upload", json.dumps(message).encode(),
                     {"X-Amzn-Trace-Id": f"{root};Parent=53995c3f42cd8ad8;Sampled=1"})
    assert status == 202
    status, _ = post(server, "on-upload", json.dumps({"Records": [s3_record("untraced.txt")]}).encode(),
                     {"X-Amzn-Trace-Id": "Root=malformed;Sampled=1"})
    assert status == 202

    def traces() -> dict | None:
        seen = {line["key"]: line["trace"] for line in delivered(server, 0, prefix="S3TRACE ")}
        return seen if {"traced-1.txt", "traced-2.txt", "untraced.txt"} <= seen.keys() else None

    seen = wait_for(traces, timeout=30, what="the three records' invokes")
    for key in ("traced-1.txt", "traced-2.txt"):
        assert seen[key].startswith(root + ";Parent=") and seen[key].endswith(";Sampled=1")
    assert seen["traced-1.txt"] != seen["traced-2.txt"]  # one invoke each, each its own Parent
    # a malformed header is ignored: the function (not traced actively) runs with a new unsampled trace
    assert not seen["untraced.txt"].startswith(root) and seen["untraced.txt"].endswith(";Sampled=0")


def test_test_events_invoke_nothing_and_bad_bodies_get_errors(server):
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-01-01T00:00:00.000Z",
                  "Bucket": "photos", "RequestId": "R", "HostId": "H"}
    assert post(server, "on-upload", json.dumps(test_event).encode()) == (202, {"Invoked": 0, "RequestIds": []})
    status, body = post(server, "on-upload", b"not json")
    assert status == 400 and "not JSON" in body["message"]
    status, body = post(server, "on-upload", json.dumps({"Records": [{"eventName": "x"}]}).encode())
    assert status == 400 and "Records[0] is not an S3 event record" in body["message"]
    status, body = post(server, "nobody", json.dumps({"Records": [s3_record("c.txt")]}).encode())
    assert status == 404 and body["Message"].startswith("Function not found")


def test_s3_to_sqs_to_a_mapping_delivers_the_s3_event(server, moto_server):
    """AWS's other path: the bucket notifies an SQS queue, an SQS mapping feeds the function."""
    lam = client_for(server.url)
    s3, sqs = client_for(moto_server, "s3"), client_for(moto_server, "sqs")
    url = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket="uploads")
    s3.put_bucket_notification_configuration(Bucket="uploads", NotificationConfiguration={"QueueConfigurations": [
        {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]})
    lam.create_event_source_mapping(FunctionName="on-upload", EventSourceArn=queue_arn, BatchSize=1)
    s3.put_object(Bucket="uploads", Key="report.csv", Body=b"a,b\n")

    def s3_records(events):
        out = []
        for event in events:
            for record in event.get("Records", []):
                if record.get("eventSource") == "aws:sqs":
                    body = json.loads(record["body"])
                    out += [r for r in body.get("Records", []) if r.get("eventSource") == "aws:s3"]
        return out

    deadline = time.monotonic() + 60
    while not s3_records(delivered(server, 1, timeout=60)):
        assert time.monotonic() < deadline, "the S3 event did not reach the function through SQS"
        time.sleep(0.3)
    record = s3_records(delivered(server, 1))[0]
    assert record["eventName"].startswith("ObjectCreated:") and record["awsRegion"] == REGION
    assert record["s3"]["bucket"]["name"] == "uploads" and record["s3"]["object"]["key"] == "report.csv"
