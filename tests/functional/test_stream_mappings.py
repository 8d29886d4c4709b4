"""Kinesis and DynamoDB Streams event source mappings end to end: a real lamina polling a real moto
server. Functions report what they received through a witness SQS queue in moto (durable, unlike
log lines a SIGKILL may cut), so deliveries are counted by record id."""

from __future__ import annotations

import base64
import json
import time

import boto3
import pytest

from support import ACCOUNT, REGION, ROLE, LaminaProcess, client_for, make_zip, source_env

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
    for name in ("record", "slow", "poison", "partial", "window", "sink"):
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler=f"app.{name}", Timeout=30,
                            Environment=env, Code={"ZipFile": make_zip({"app.py": APP})})
    for name in ("record", "slow", "poison", "partial", "window", "sink"):
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})


def new_stream(kinesis, name: str, shards: int = 1) -> str:
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})
    return kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]


def put(kinesis, name: str, items: list[tuple[str, str]]) -> dict[str, str]:
    """Put (partition key, data) records; returns eventID (shard:sequence number) → data."""
    out = {}
    for key, data in items:
        answer = kinesis.put_record(StreamName=name, PartitionKey=key, Data=data.encode())
        out[f"{answer['ShardId']}:{answer['SequenceNumber']}"] = data
    return out


ENV = {"LAMINA_STREAM_POLL_INTERVAL": "0.1", "LAMINA_STREAM_RETRY_SCALE": "0.05"}


@pytest.fixture(scope="module")
def env(tmp_path_factory, moto_server):
    process = LaminaProcess(tmp_path_factory.mktemp("streams") / "data", env={**source_env(moto_server), **ENV}).start()
    try:
        lam = client_for(process.url)
        witness = Witness(aws(moto_server, "sqs"), "witness")
        make_functions(lam, witness, moto_server)
        yield {"server": process, "lam": lam, "witness": witness, "kinesis": aws(moto_server, "kinesis"),
               "sqs": aws(moto_server, "sqs"), "url": moto_server}
    finally:
        process.stop()


def test_kinesis_delivers_every_record_in_shard_order_in_awss_shape(env):
    lam, kinesis, witness = env["lam"], env["kinesis"], env["witness"]
    arn = new_stream(kinesis, "orders", shards=2)
    sent = put(kinesis, "orders", [(f"key-{n % 7}", f"order-{n}") for n in range(60)])
    mapping = lam.create_event_source_mapping(FunctionName="record", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                              BatchSize=10)
    assert mapping["State"] == "Creating" and mapping["StateTransitionReason"] == "User action"
    records = witness.until(lambda seen: (r := delivered(seen, arn)) and {x["eventID"] for x in r} >= set(sent) and r)
    assert {r["eventID"] for r in records} == set(sent)
    assert all(len(batch) <= 10 for batch in batches(witness.seen, arn))
    first = records[0]
    assert list(first) == ["kinesis", "eventSource", "eventVersion", "eventID", "eventName", "invokeIdentityArn",
                           "awsRegion", "eventSourceARN"]
    assert (first["eventSource"], first["eventName"], first["invokeIdentityArn"]) == ("aws:kinesis", "aws:kinesis:record", ROLE)
    for record in records:
        assert record["eventID"].endswith(":" + record["kinesis"]["sequenceNumber"])
        assert data_of(record) == sent[record["eventID"]]
    for shard in {event_id.split(":")[0] for event_id in sent}:  # per shard, in order, each record once
        order = [int(r["kinesis"]["sequenceNumber"]) for r in records if r["eventID"].startswith(shard + ":")]
        assert order == sorted(order) and len(order) == len(set(order))
    deadline = time.monotonic() + 20
    while lam.get_event_source_mapping(UUID=mapping["UUID"]).get("LastProcessingResult") != "OK":
        assert time.monotonic() < deadline
        time.sleep(0.3)


def test_dynamodb_stream_records(env):
    lam, witness = env["lam"], env["witness"]
    ddb = aws(env["url"], "dynamodb")
    table = ddb.create_table(TableName="Items", KeySchema=[{"AttributeName": "Id", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "Id", "AttributeType": "N"}],
                             BillingMode="PAY_PER_REQUEST",
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    arn = table["TableDescription"]["LatestStreamArn"]
    lam.create_event_source_mapping(FunctionName="record", EventSourceArn=arn, StartingPosition="TRIM_HORIZON")
    ddb.put_item(TableName="Items", Item={"Id": {"N": "101"}, "Message": {"S": "New item!"}})
    ddb.put_item(TableName="Items", Item={"Id": {"N": "101"}, "Message": {"S": "Changed"}, "Blob": {"B": b"\x01"}})
    ddb.delete_item(TableName="Items", Key={"Id": {"N": "101"}})
    records = witness.until(lambda seen: len(r := delivered(seen, arn)) >= 3 and r)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    insert, modify, remove = records
    assert list(insert) == ["eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
                            "eventSourceARN"]
    assert (insert["eventVersion"], insert["eventSource"], insert["eventSourceARN"]) == ("1.1", "aws:dynamodb", arn)
    assert insert["dynamodb"]["Keys"] == {"Id": {"N": "101"}}
    assert insert["dynamodb"]["NewImage"] == {"Id": {"N": "101"}, "Message": {"S": "New item!"}}
    assert "OldImage" not in insert["dynamodb"]
    assert modify["dynamodb"]["OldImage"]["Message"] == {"S": "New item!"}
    assert modify["dynamodb"]["NewImage"]["Blob"] == {"B": "AQ=="}
    assert "NewImage" not in remove["dynamodb"] and remove["dynamodb"]["OldImage"]["Message"] == {"S": "Changed"}
    assert remove["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(insert["dynamodb"]["ApproximateCreationDateTime"], (int, float))
