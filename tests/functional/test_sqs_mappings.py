"""SQS event source mappings end to end: a real lamina polling queues in a real moto server, functions
printing what they receive (read back through the Logs API), every message counted by id."""

from __future__ import annotations

import json
import signal

import boto3
import pytest

from support import (
    ACCOUNT,
    REGION,
    ROLE,
    LaminaProcess,
    client_for,
    free_port,
    make_zip,
    printed_json,
    source_env,
    wait_for,
)

APP = r'''
import json, time

def record(event, context):
    for r in event["Records"]:
        print("REC " + json.dumps({"fn": context.function_name, "n": len(event["Records"]), "record": r}))

def partial(event, context):
    failures = []
    for r in event["Records"]:
        print("REC " + json.dumps({"fn": context.function_name, "n": len(event["Records"]), "record": r}))
        if r["body"].startswith("bad"):
            failures.append({"itemIdentifier": r["messageId"]})
    return {"batchItemFailures": failures}

def fails(event, context):
    for r in event["Records"]:
        print("REC " + json.dumps({"fn": context.function_name, "n": len(event["Records"]), "record": r}))
    raise RuntimeError("this batch fails")

def sizes(event, context):
    print("REC " + json.dumps({"fn": context.function_name, "n": len(event["Records"]),
                               "record": {"messageId": ",".join(r["messageId"] for r in event["Records"]),
                                          "bytes": len(json.dumps(event))}}))

def tally(event, context):
    import os, boto3
    sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    entries = [{"Id": str(i), "MessageBody": r["messageId"]} for i, r in enumerate(event["Records"])]
    sqs.send_message_batch(QueueUrl=os.environ["TALLY"], Entries=entries)
    time.sleep(0.2)  # 24 batches on at most 2 environments: the queue takes >= 2.4 s, so the kill comes mid-queue
'''


@pytest.fixture(scope="module")
def sqs(moto_server):
    return boto3.client("sqs", endpoint_url=moto_server, region_name=REGION, aws_access_key_id="test",
                        aws_secret_access_key="test")


@pytest.fixture(scope="module")
def server(tmp_path_factory, moto_server):
    process = LaminaProcess(tmp_path_factory.mktemp("sqs-esm") / "data",
                            env={**source_env(moto_server), "LAMINA_MAPPING_BACKOFF_MAX": "1",
                                 "LAMINA_SQS_WAIT_SECONDS": "2"}).start()
    yield process
    process.stop()


def deploy(lam, name: str, handler: str, timeout: int = 3) -> None:
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler=handler, Timeout=timeout,
                        Code={"ZipFile": make_zip({"app.py": APP})})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


@pytest.fixture(scope="module")
def lam(server):
    return client_for(server.url)


@pytest.fixture(scope="module")
def logs(server):
    return client_for(server.url, "logs")


def make_queue(sqs, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def received(logs, function: str) -> list[dict]:
    """Every REC line the function printed, in order: {"fn", "n" (batch size), "record"}."""
    return printed_json(logs, function, "REC")


def queue_empty(sqs, url: str) -> bool:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def send_all(sqs, url: str, bodies: list[str], **extra) -> list[str]:
    ids = []
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": body, **extra} for i, body in enumerate(bodies[start:start + 10])]
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not answer.get("Failed")
        ids += [item["MessageId"] for item in sorted(answer["Successful"], key=lambda s: int(s["Id"]))]
    return ids


def test_every_message_is_delivered_in_aws_shape(lam, logs, sqs):
    deploy(lam, "consumer", "app.record")
    url, arn = make_queue(sqs, "orders")
    ids = send_all(sqs, url, [json.dumps({"order": i}) for i in range(57)])
    with_attributes = sqs.send_message(QueueUrl=url, MessageBody="attributed", MessageAttributes={
        "color": {"DataType": "String", "StringValue": "blue"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    })
    ids.append(with_attributes["MessageId"])
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="consumer", BatchSize=10)["UUID"]

    got = wait_for(lambda: (lambda seen: seen if {r["record"]["messageId"] for r in seen} >= set(ids) else None)(
        received(logs, "consumer")), what="every message")
    assert {r["record"]["messageId"] for r in got} == set(ids)
    assert all(r["n"] <= 10 for r in got)
    wait_for(lambda: queue_empty(sqs, url), what="the queue to be empty")

    record = next(r["record"] for r in got if r["record"]["messageId"] == with_attributes["MessageId"])
    assert list(record) == ["messageId", "receiptHandle", "body", "attributes", "messageAttributes",
                            "md5OfMessageAttributes", "md5OfBody", "eventSource", "eventSourceARN", "awsRegion"]
    assert record["body"] == "attributed"
    assert record["md5OfBody"] == with_attributes["MD5OfMessageBody"]
    assert (record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == ("aws:sqs", arn, REGION)
    assert record["messageAttributes"] == {
        "color": {"stringValue": "blue", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    attributes = record["attributes"]
    assert attributes["ApproximateReceiveCount"] == "1" or int(attributes["ApproximateReceiveCount"]) >= 1
    for key in ("SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"):
        assert isinstance(attributes[key], str) and attributes[key]
    plain = next(r["record"] for r in got if r["record"]["messageId"] == ids[0])
    assert plain["body"] == json.dumps({"order": 0}) and plain["messageAttributes"] == {}
    assert "md5OfMessageAttributes" not in plain
    health = json.loads(__import__("urllib.request").request.urlopen(lam.meta.endpoint_url + "/health").read())
    assert health["counts"]["eventSourceMappings"]["polling"] >= 1
    metrics = __import__("urllib.request").request.urlopen(lam.meta.endpoint_url + "/metrics").read().decode()
    delivered = [line for line in metrics.splitlines()
                 if line.startswith("lamina_mapping_records_total") and uuid in line]
    assert delivered and float(delivered[0].split()[-1]) >= len(ids)
    lam.delete_event_source_mapping(UUID=uuid)


def test_batching_window_gathers_batches_larger_than_one_receive(lam, logs, sqs):
    deploy(lam, "gatherer", "app.record")
    url, arn = make_queue(sqs, "gathered")
    ids = send_all(sqs, url, [f"g-{i}" for i in range(40)])
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="gatherer", BatchSize=25,
                                    MaximumBatchingWindowInSeconds=2, ScalingConfig={"MaximumConcurrency": 2})
    got = wait_for(lambda: (lambda seen: seen if {r["record"]["messageId"] for r in seen} >= set(ids) else None)(
        received(logs, "gatherer")), what="every message")
    sizes = {r["n"] for r in got}
    assert max(sizes) > 10 and max(sizes) <= 25, sizes


def test_batches_are_split_under_the_6_mb_payload_limit(lam, logs, sqs):
    deploy(lam, "big", "app.sizes")
    url, arn = make_queue(sqs, "big")
    ids = [sqs.send_message(QueueUrl=url, MessageBody=f"{i:04d}" + "x" * 200_000)["MessageId"] for i in range(32)]
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="big", BatchSize=40,
                                    MaximumBatchingWindowInSeconds=3, ScalingConfig={"MaximumConcurrency": 2})

    def delivered():
        seen = received(logs, "big")
        return seen if {i for r in seen for i in r["record"]["messageId"].split(",")} >= set(ids) else None

    batches = wait_for(delivered, what="every large message")
    assert all(r["record"]["bytes"] <= 6_291_456 for r in batches)
    assert max(r["n"] for r in batches) > 10  # the window gathered more than one receive, then it was split


def test_partial_batch_failure_and_redrive_to_the_dlq(lam, logs, sqs):
    deploy(lam, "picky", "app.partial", timeout=1)
    dlq_url, dlq_arn = make_queue(sqs, "picky-dlq")
    url, arn = make_queue(sqs, "picky-in", VisibilityTimeout="1",
                          RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}))
    bodies = [f"good-{i}" for i in range(8)] + [f"bad-{i}" for i in range(3)]
    ids = dict(zip(send_all(sqs, url, bodies), bodies, strict=True))
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="picky", BatchSize=10,
                                    FunctionResponseTypes=["ReportBatchItemFailures"])

    def dead() -> list[str]:
        answer = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60)
        return [m["Body"] for m in answer.get("Messages", [])]

    in_dlq: list[str] = []
    wait_for(lambda: in_dlq.extend(dead()) or len(in_dlq) >= 3, what="the failed messages in the DLQ")
    assert sorted(in_dlq) == sorted(b for b in bodies if b.startswith("bad"))
    got = received(logs, "picky")
    goods = [r["record"]["messageId"] for r in got if r["record"]["body"].startswith("good")]
    assert set(goods) == {i for i, b in ids.items() if b.startswith("good")}
    assert len(goods) == len(set(goods)), "a message reported as done was delivered again"
    wait_for(lambda: queue_empty(sqs, url), what="the source queue to be empty")


def test_failed_batches_stay_in_the_queue_until_redriven(lam, logs, sqs):
    deploy(lam, "broken", "app.fails", timeout=1)
    dlq_url, dlq_arn = make_queue(sqs, "broken-dlq")
    url, arn = make_queue(sqs, "broken-in", VisibilityTimeout="1",
                          RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}))
    message_id = sqs.send_message(QueueUrl=url, MessageBody="doomed")["MessageId"]
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="broken")
    moved = wait_for(lambda: sqs.receive_message(QueueUrl=dlq_url).get("Messages"), what="the DLQ")
    assert moved[0]["MessageId"] == message_id
    counts = sorted(int(r["record"]["attributes"]["ApproximateReceiveCount"]) for r in received(logs, "broken"))
    assert counts[:3] == [1, 2, 3]


def test_filtered_out_messages_are_deleted(lam, logs, sqs):
    deploy(lam, "filtered", "app.record")
    url, arn = make_queue(sqs, "mixed")
    kept = send_all(sqs, url, [json.dumps({"kind": "keep", "n": i}) for i in range(5)])
    send_all(sqs, url, [json.dumps({"kind": "drop", "n": i}) for i in range(5)] + ["plain text", "keep"])
    lam.create_event_source_mapping(
        EventSourceArn=arn, FunctionName="filtered",
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"kind": ["keep"], "n": [{"numeric": [">=", 0]}]}})}]})
    got = wait_for(lambda: (lambda seen: seen if len({r["record"]["messageId"] for r in seen}) >= 5 else None)(
        received(logs, "filtered")), what="the kept messages")
    wait_for(lambda: queue_empty(sqs, url), what="the filtered-out messages to be deleted")
    assert {r["record"]["messageId"] for r in received(logs, "filtered")} == set(kept)
    assert all(json.loads(r["record"]["body"])["kind"] == "keep" for r in got)


def test_fifo_keeps_the_order_of_each_group(lam, logs, sqs):
    deploy(lam, "ordered", "app.record")
    url, arn = make_queue(sqs, "ordered.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    sent: dict[str, list[str]] = {}
    for i in range(10):
        for group in ("a", "b", "c"):
            body = f"{group}-{i}"
            sent.setdefault(group, []).append(sqs.send_message(QueueUrl=url, MessageBody=body,
                                                               MessageGroupId=group)["MessageId"])
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="ordered", BatchSize=4,
                                    ScalingConfig={"MaximumConcurrency": 3})
    got = wait_for(lambda: (lambda seen: seen if len({r["record"]["messageId"] for r in seen}) >= 30 else None)(
        received(logs, "ordered")), what="every FIFO message")
    for group, ids in sent.items():
        seen = [r["record"]["messageId"] for r in got if r["record"]["attributes"]["MessageGroupId"] == group]
        first = list(dict.fromkeys(seen))
        assert first == ids
    # moto gives no SequenceNumber; the FIFO attributes it does give are passed on as they came
    assert all(r["record"]["attributes"]["MessageDeduplicationId"] for r in got)


def test_a_deleted_queue_shows_in_the_mapping(lam, sqs):
    deploy(lam, "orphan", "app.record")
    url, arn = make_queue(sqs, "vanishing")
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="orphan")["UUID"]
    wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled", what="Enabled")
    sqs.delete_queue(QueueUrl=url)
    mapping = wait_for(lambda: (lambda m: m if m["StateTransitionReason"].startswith("PROBLEM") else None)(
        lam.get_event_source_mapping(UUID=uuid)), what="the problem to show")
    assert "NonExistentQueue" in mapping["StateTransitionReason"]
    sqs.create_queue(QueueName="vanishing")
    wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["StateTransitionReason"] == "USER_INITIATED",
             what="the mapping to recover")
    lam.delete_event_source_mapping(UUID=uuid)


def test_an_unreachable_endpoint_shows_in_the_mapping(tmp_path, moto_server):
    dead = f"http://127.0.0.1:{free_port()}"
    process = LaminaProcess(tmp_path / "data", env={**source_env(moto_server), "LAMINA_SQS_ENDPOINT_URL": dead,
                                                    "LAMINA_MAPPING_BACKOFF_MAX": "1"}).start()
    try:
        lam = client_for(process.url)
        deploy(lam, "fn", "app.record")
        uuid = lam.create_event_source_mapping(EventSourceArn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:nowhere",
                                               FunctionName="fn")["UUID"]
        mapping = wait_for(lambda: (lambda m: m if m["StateTransitionReason"].startswith("PROBLEM") else None)(
            lam.get_event_source_mapping(UUID=uuid)), what="the problem to show")
        assert f"Cannot reach SQS at {dead}" in mapping["StateTransitionReason"]
        assert process.health()["status"] == "ok"
    finally:
        process.stop()


def test_sigkill_mid_queue_loses_nothing(tmp_path, moto_server, sqs):
    """The function tallies every message id in another queue before it returns; after a SIGKILL of
    lamina mid-queue and a restart, every message sent was tallied (duplicates allowed)."""
    tally_url, _ = make_queue(sqs, "tally")
    url, arn = make_queue(sqs, "durable", VisibilityTimeout="5")
    ids = send_all(sqs, url, [f"m-{i}" for i in range(120)])
    env = {**source_env(moto_server), "LAMINA_MAPPING_BACKOFF_MAX": "1"}
    first = LaminaProcess(tmp_path / "data", env=env).start()
    lam = client_for(first.url)
    lam.create_function(FunctionName="durable", Runtime="python3.12", Role=ROLE, Handler="app.tally", Timeout=5,
                        Code={"ZipFile": make_zip({"app.py": APP})},
                        Environment={"Variables": {"MOTO": moto_server, "TALLY": tally_url}})
    lam.get_waiter("function_active_v2").wait(FunctionName="durable")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="durable", BatchSize=5,
                                    ScalingConfig={"MaximumConcurrency": 2})
    tallied: list[str] = []

    def drain_tally() -> int:
        while True:
            answer = sqs.receive_message(QueueUrl=tally_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return len(tallied)
            tallied.extend(m["Body"] for m in messages)
            sqs.delete_message_batch(QueueUrl=tally_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])

    wait_for(lambda: drain_tally() >= 1, what="a delivery before the kill")
    first.stop(signal.SIGKILL)
    assert not queue_empty(sqs, url), "the kill came too late to test anything"

    second = LaminaProcess(tmp_path / "data", env=env).start()
    try:
        wait_for(lambda: queue_empty(sqs, url), timeout=120, what="the queue to drain after the restart")
        drain_tally()
        assert set(ids) <= set(tallied)
    finally:
        second.stop()
