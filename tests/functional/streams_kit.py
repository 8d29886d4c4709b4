"""What the stream mapping tests share: functions that report every event they receive to a witness
SQS queue in moto (durable, unlike log lines a SIGKILL may cut), and helpers to make streams and
read the witness."""

from __future__ import annotations

import base64
import json
import time

import boto3

from support import ACCOUNT, REGION, ROLE, make_zip

FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
APP = r'''
import json, os, time, base64
import boto3

sqs = boto3.client("sqs", endpoint_url=os.environ["WITNESS_ENDPOINT"], region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")

def _witness(kind, event):
    sqs.send_message(QueueUrl=os.environ["WITNESS_URL"], MessageBody=json.dumps({"kind": kind, "event": event}))

def _data(record):
    return base64.b64decode(record["kinesis"]["data"]).decode()

def record(event, context):
    _witness("batch", event)

def slow(event, context):
    time.sleep(0.05)
    _witness("batch", event)

def poison(event, context):
    _witness("batch", event)
    if any(_data(r) == "poison" for r in event["Records"]):
        raise RuntimeError("poison record")

def partial(event, context):
    _witness("batch", event)
    return {"batchItemFailures": [{"itemIdentifier": r["kinesis"]["sequenceNumber"]}
                                  for r in event["Records"] if _data(r) == "bad"]}

def window(event, context):
    _witness("window", event)
    state = dict(event["state"])
    state["count"] = state.get("count", 0) + len(event["Records"])
    return {"state": state}

def bigwindow(event, context):
    _witness("bigwindow", {k: v for k, v in event.items() if k != "state"} | {"stateSize": len(json.dumps(event["state"]))})
    return {"state": {"blob": "x" * 1_100_000}}

def sink(event, context):
    _witness("failure", event)
'''


def aws(url: str, service: str):
    return boto3.client(service, endpoint_url=url, region_name=REGION, aws_access_key_id="test",
                        aws_secret_access_key="test")


class Witness:
    """The witness queue: everything the functions received, drained and kept."""

    def __init__(self, sqs, name: str) -> None:
        self.sqs = sqs
        self.url = sqs.create_queue(QueueName=name)["QueueUrl"]
        self.seen: list[dict] = []

    def drain(self) -> list[dict]:
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return self.seen
            for message in messages:
                self.seen.append(json.loads(message["Body"]))
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])

    def until(self, check, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check(self.drain())
            if result:
                return result
            time.sleep(0.3)
        raise AssertionError(f"not seen in time; witness has {len(self.seen)} messages: {self.seen[-3:]}")


def batches(seen: list[dict], stream_arn: str, kind: str = "batch") -> list[list[dict]]:
    return [m["event"]["Records"] for m in seen if m["kind"] == kind and m["event"]["Records"]
            and m["event"]["Records"][0]["eventSourceARN"] == stream_arn]


def delivered(seen, stream_arn) -> list[dict]:
    return [r for batch in batches(seen, stream_arn) for r in batch]


def data_of(record: dict) -> str:
    return base64.b64decode(record["kinesis"]["data"]).decode()


def make_functions(lam, witness: Witness, moto_url: str) -> None:
    env = {"Variables": {"WITNESS_ENDPOINT": moto_url, "WITNESS_URL": witness.url}}
    for name in ("record", "slow", "poison", "partial", "window", "bigwindow", "sink"):
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler=f"app.{name}", Timeout=30,
                            Environment=env, Code={"ZipFile": make_zip({"app.py": APP})})
    for name in ("record", "slow", "poison", "partial", "window", "bigwindow", "sink"):
        lam.get_waiter("function_active_v2").wait(FunctionName=name)


def new_stream(kinesis, name: str, shards: int = 1) -> str:
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 180})
    return kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]


def put(kinesis, name: str, items: list[tuple[str, str]]) -> dict[str, str]:
    """Put (partition key, data) records; returns eventID (shard:sequence number) → data."""
    out = {}
    for key, data in items:
        answer = kinesis.put_record(StreamName=name, PartitionKey=key, Data=data.encode())
        out[f"{answer['ShardId']}:{answer['SequenceNumber']}"] = data
    return out


ENV = {"LAMINA_STREAM_POLL_INTERVAL": "0.1", "LAMINA_STREAM_RETRY_SCALE": "0.05", "LAMINA_MAPPING_BACKOFF_MAX": "2"}
