"""Kinesis and DynamoDB Streams event source mappings end to end: a real lamina polling a real moto
server. Functions report what they received through a witness SQS queue in moto (durable, unlike
log lines a SIGKILL may cut), so deliveries are counted by record id."""

from __future__ import annotations

import json
import time

import pytest
from streams_kit import (
    ENV,
    FN,
    Witness,
    aws,
    batches,
    data_of,
    delivered,
    make_functions,
    new_stream,
    put,
)

from support import ROLE, LaminaProcess, client_for, source_env


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


@pytest.fixture(scope="module")
def aged(env):
    """Records no invoke will ever accept, under MaximumRecordAgeInSeconds 60 (the least AWS allows):
    set up first so the minute passes while the other tests run."""
    arn = new_stream(env["kinesis"], "aged")
    sent = put(env["kinesis"], "aged", [("k", "poison"), ("k", "poison")])
    env["lam"].create_event_source_mapping(
        FunctionName="poison", EventSourceArn=arn, StartingPosition="TRIM_HORIZON", MaximumRecordAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": f"{FN}:sink"}})
    return arn, sent, time.monotonic()


def test_kinesis_delivers_every_record_in_shard_order_in_awss_shape(env, aged):
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


def failure_records(seen, stream_arn) -> list[dict]:
    return [m["event"] for m in seen if m["kind"] == "failure"
            and m["event"].get("KinesisBatchInfo", {}).get("streamArn") == stream_arn]


def test_bisect_isolates_a_poison_record_and_sends_its_failure_record_to_sqs(env):
    lam, kinesis, witness, sqs = env["lam"], env["kinesis"], env["witness"], env["sqs"]
    arn = new_stream(kinesis, "bisect")
    dlq_url = sqs.create_queue(QueueName="stream-failures")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    items = [("k", f"good-{n}") for n in range(8)]
    items[5] = ("k", "poison")
    sent = put(kinesis, "bisect", items)
    poison_id = next(event_id for event_id, data in sent.items() if data == "poison")
    lam.create_event_source_mapping(
        FunctionName="poison", EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=8,
        BisectBatchOnFunctionError=True, MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": dlq_arn}})
    deadline = time.monotonic() + 60
    failure = None
    while failure is None:
        assert time.monotonic() < deadline, "no failure record reached the SQS destination"
        messages = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages", [])
        failure = json.loads(messages[0]["Body"]) if messages else None
    info = failure["KinesisBatchInfo"]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["functionArn"] == f"{FN}:poison"
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    assert failure["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert failure["version"] == "1.0" and failure["timestamp"].endswith("Z")
    assert (info["shardId"], info["batchSize"], info["streamArn"]) == ("shardId-000000000000", 1, arn)
    assert f"{info['shardId']}:{info['startSequenceNumber']}" == poison_id == f"{info['shardId']}:{info['endSequenceNumber']}"
    # Every good record reached the function in a batch that succeeded (one without the poison record).
    succeeded = {r["eventID"] for batch in batches(witness.until(lambda seen: seen), arn)
                 if all(data_of(r) != "poison" for r in batch) for r in batch}
    witness.until(lambda seen: {r["eventID"] for batch in batches(seen, arn)
                                if all(data_of(r) != "poison" for r in batch) for r in batch} >= set(sent) - {poison_id})
    assert succeeded <= set(sent)
    sizes = [len(batch) for batch in batches(witness.seen, arn)]
    assert sizes[:3] == [8, 4, 4] and min(sizes) == 1  # halved until the poison record was alone


def test_partial_batch_failures_checkpoint_at_the_first_failed_record(env):
    lam, kinesis, witness = env["lam"], env["kinesis"], env["witness"]
    arn = new_stream(kinesis, "partial")
    sent = put(kinesis, "partial", [("k", "a"), ("k", "b"), ("k", "bad"), ("k", "c")])
    lam.create_event_source_mapping(
        FunctionName="partial", EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"], MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": f"{FN}:sink"}})
    failure = witness.until(lambda seen: failure_records(seen, arn))[0]
    got = [[data_of(r) for r in batch] for batch in batches(witness.seen, arn)]
    assert got == [["a", "b", "bad", "c"], ["bad", "c"]]  # a and b were checkpointed; retried from "bad"
    info = failure["KinesisBatchInfo"]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted" and info["batchSize"] == 2
    bad_id = next(event_id for event_id, data in sent.items() if data == "bad")
    assert f"{info['shardId']}:{info['startSequenceNumber']}" == bad_id


def test_tumbling_window_state_passes_between_invokes(env):
    lam, kinesis, witness = env["lam"], env["kinesis"], env["witness"]
    arn = new_stream(kinesis, "windows")
    lam.create_event_source_mapping(FunctionName="window", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                    BatchSize=2, TumblingWindowInSeconds=2)
    sent = put(kinesis, "windows", [("k", f"w-{n}") for n in range(5)])

    def finals(seen):
        events = [m["event"] for m in seen if m["kind"] == "window" and m["event"]["eventSourceARN"] == arn]
        counted = sum(e["state"].get("count", 0) for e in events if e["isFinalInvokeForWindow"])
        return events if counted == len(sent) else None

    events = witness.until(finals)
    first = events[0]
    assert set(first) == {"Records", "window", "state", "shardId", "eventSourceARN", "isFinalInvokeForWindow",
                          "isWindowTerminatedEarly"}
    assert first["state"] == {} and first["shardId"] == "shardId-000000000000"
    assert first["window"]["start"].endswith("Z") and first["window"]["end"] > first["window"]["start"]
    for event in events:
        assert len(event["Records"]) <= 2 and event["isWindowTerminatedEarly"] is False
        if event["isFinalInvokeForWindow"]:
            assert event["Records"] == []
    later = [e for e in events if e["state"]]
    assert later, "a later invoke of a window carries the state the previous one returned"


def test_parallelization_keeps_order_per_partition_key(env):
    lam, kinesis, witness = env["lam"], env["kinesis"], env["witness"]
    arn = new_stream(kinesis, "parallel")
    sent = put(kinesis, "parallel", [(f"user-{n % 4}", f"{n % 4}:{n}") for n in range(40)])
    lam.create_event_source_mapping(FunctionName="slow", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                    BatchSize=5, ParallelizationFactor=4)
    records = witness.until(lambda seen: (r := delivered(seen, arn)) and {x["eventID"] for x in r} >= set(sent) and r)
    for key in range(4):
        order = [int(data_of(r).split(":")[1]) for r in records if r["kinesis"]["partitionKey"] == f"user-{key}"]
        assert order == sorted(order) and len(order) == 10


def test_iterator_age_is_a_metric_per_mapping(env):
    import urllib.request
    with urllib.request.urlopen(env["server"].url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    assert "lamina_mapping_iterator_age_milliseconds{mapping=" in text


def keep_putting_until_delivered(kinesis, witness, name: str, arn: str, prefix: str) -> list[dict]:
    """Put `prefix-N` records until one reaches the function (the poller's start is not observable)."""
    deadline = time.monotonic() + 60
    n = 0
    while time.monotonic() < deadline:
        put(kinesis, name, [("k", f"{prefix}-{n}")])
        n += 1
        witness.drain()
        records = delivered(witness.seen, arn)
        if any(data_of(r).startswith(prefix) for r in records):
            return records
        time.sleep(0.5)
    raise AssertionError(f"no {prefix} record was delivered")


def test_starting_positions_latest_and_at_timestamp(env):
    lam, kinesis, witness = env["lam"], env["kinesis"], env["witness"]
    latest_arn = new_stream(kinesis, "latest")
    put(kinesis, "latest", [("k", "old-0"), ("k", "old-1")])
    lam.create_event_source_mapping(FunctionName="record", EventSourceArn=latest_arn, StartingPosition="LATEST")
    records = keep_putting_until_delivered(kinesis, witness, "latest", latest_arn, "new")
    assert not [r for r in records if data_of(r).startswith("old")]

    stamped_arn = new_stream(kinesis, "stamped")
    put(kinesis, "stamped", [("k", "early")])
    time.sleep(1.5)  # arrival times are the stream's clock: leave a gap to point between
    between = time.time() - 0.5
    put(kinesis, "stamped", [("k", "late-0"), ("k", "late-1")])
    lam.create_event_source_mapping(FunctionName="record", EventSourceArn=stamped_arn, StartingPosition="AT_TIMESTAMP",
                                    StartingPositionTimestamp=between)
    records = witness.until(lambda seen: len(r := delivered(seen, stamped_arn)) >= 2 and r)
    assert [data_of(r) for r in records] == ["late-0", "late-1"]


def test_filter_criteria_skip_records_on_kinesis(env):
    lam, kinesis, witness = env["lam"], env["kinesis"], env["witness"]
    arn = new_stream(kinesis, "filtered")
    items = [("k", json.dumps({"kind": kind, "n": n})) for n, kind in enumerate(["keep", "drop", "keep", "drop"])]
    items.append(("k", "not json"))
    put(kinesis, "filtered", items)
    mapping = lam.create_event_source_mapping(
        FunctionName="record", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"data": {"kind": ["keep"]}})}]})
    records = witness.until(lambda seen: len(r := delivered(seen, arn)) >= 2 and r)
    assert [json.loads(data_of(r))["n"] for r in records] == [0, 2]
    assert mapping["FilterCriteria"] == {"Filters": [{"Pattern": json.dumps({"data": {"kind": ["keep"]}})}]}


def test_dynamodb_latest_and_its_failure_record(env):
    lam, witness = env["lam"], env["witness"]
    ddb = aws(env["url"], "dynamodb")
    table = ddb.create_table(TableName="Fails", KeySchema=[{"AttributeName": "Id", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "Id", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST",
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    arn = table["TableDescription"]["LatestStreamArn"]
    ddb.put_item(TableName="Fails", Item={"Id": {"S": "before"}})
    lam.create_event_source_mapping(FunctionName="poison", EventSourceArn=arn, StartingPosition="LATEST",
                                    MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": f"{FN}:sink"}})

    def failures(seen):
        return [m["event"] for m in seen if m["kind"] == "failure" and "DDBStreamBatchInfo" in m["event"]
                and m["event"]["DDBStreamBatchInfo"]["streamArn"] == arn]

    deadline = time.monotonic() + 60
    n = 0
    while not failures(witness.drain()):
        assert time.monotonic() < deadline, "no DynamoDB failure record"
        ddb.put_item(TableName="Fails", Item={"Id": {"S": f"after-{n}"}})
        n += 1
        time.sleep(0.5)
    failure = failures(witness.seen)[0]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 1
    info = failure["DDBStreamBatchInfo"]
    assert info["approximateArrivalOfFirstRecord"].endswith("Z") and "." not in info["approximateArrivalOfFirstRecord"]
    keys = [r["dynamodb"]["Keys"]["Id"]["S"] for batch in batches(witness.seen, arn) for r in batch]
    assert keys and "before" not in keys and all(k.startswith("after-") for k in keys)


def test_a_missing_stream_shows_in_the_mapping_until_it_exists(env):
    lam, kinesis, witness = env["lam"], env["kinesis"], env["witness"]
    arn = "arn:aws:kinesis:us-east-1:123456789012:stream/later"  # moto's account
    mapping = lam.create_event_source_mapping(FunctionName="record", EventSourceArn=arn, StartingPosition="TRIM_HORIZON")

    def reason() -> str:
        return lam.get_event_source_mapping(UUID=mapping["UUID"])["StateTransitionReason"]

    deadline = time.monotonic() + 30
    while not reason().startswith("PROBLEM:"):
        assert time.monotonic() < deadline, "the poller never showed that the stream is missing"
        time.sleep(0.3)
    assert "ResourceNotFoundException" in reason()
    assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled"
    assert new_stream(kinesis, "later") == arn
    sent = put(kinesis, "later", [("k", "finally")])
    witness.until(lambda seen: {r["eventID"] for r in delivered(seen, arn)} >= set(sent))
    deadline = time.monotonic() + 30
    while reason() != "User action":
        assert time.monotonic() < deadline, "the problem stayed after the stream appeared"
        time.sleep(0.3)


def test_window_state_past_one_megabyte_ends_the_window_early(env):
    lam, kinesis, witness = env["lam"], env["kinesis"], env["witness"]
    arn = new_stream(kinesis, "bigstate")
    lam.create_event_source_mapping(FunctionName="bigwindow", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                    BatchSize=1, TumblingWindowInSeconds=300)
    put(kinesis, "bigstate", [("k", "one"), ("k", "two")])

    def events(seen):
        found = [m["event"] for m in seen if m["kind"] == "bigwindow" and m["event"]["eventSourceARN"] == arn]
        return found if len([e for e in found if e["Records"]]) >= 2 else None

    found = witness.until(events)
    early = [e for e in found if e["isWindowTerminatedEarly"]]
    assert early and early[0]["isFinalInvokeForWindow"] and early[0]["Records"] == []
    assert early[0]["stateSize"] > 1_048_576
    second = [e for e in found if e["Records"]][1]
    assert second["stateSize"] == 2  # the next records start the window afresh: {}


def test_disable_then_enable_resumes_from_the_checkpoint(env):
    lam, kinesis, witness = env["lam"], env["kinesis"], env["witness"]
    arn = new_stream(kinesis, "pausable")
    first = put(kinesis, "pausable", [("k", f"first-{n}") for n in range(5)])
    mapping = lam.create_event_source_mapping(FunctionName="record", EventSourceArn=arn,
                                              StartingPosition="TRIM_HORIZON")
    witness.until(lambda seen: {r["eventID"] for r in delivered(seen, arn)} >= set(first))
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    deadline = time.monotonic() + 30
    while lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] != "Disabled":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    second = put(kinesis, "pausable", [("k", f"second-{n}") for n in range(5)])
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    records = witness.until(lambda seen: (r := delivered(seen, arn)) and {x["eventID"] for x in r} >= set(second) and r)
    ids = [r["eventID"] for r in records]
    assert len(ids) == len(set(ids)) == 10  # resumed after the first five: nothing skipped, nothing again


def test_records_past_max_age_go_to_the_on_failure_destination(env, aged):  # last: its minute passes meanwhile
    arn, sent, created = aged
    failure = env["witness"].until(lambda seen: failure_records(seen, arn), timeout=max(10.0, 120 - (time.monotonic() - created)))[0]
    assert time.monotonic() - created >= 55
    assert failure["requestContext"]["condition"] == "RecordAgeExceeded"
    assert failure["requestContext"]["approximateInvokeCount"] >= 1
    assert failure["responseContext"]["functionError"] == "Unhandled"
    info = failure["KinesisBatchInfo"]
    assert info["batchSize"] == 2 and {f"{info['shardId']}:{info['startSequenceNumber']}",
                                       f"{info['shardId']}:{info['endSequenceNumber']}"} == set(sent)
    assert info["approximateArrivalOfFirstRecord"].endswith("Z") and "." in info["approximateArrivalOfFirstRecord"]
