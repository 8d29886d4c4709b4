"""Event-source pollers in a cluster: a mapping made through one front polls on exactly one front (the
holder of the pollers' lease), and when that front is killed with SIGKILL the other takes the lease and
polls on; every message sent runs (duplicates allowed, nothing lost)."""

from __future__ import annotations

import json

import boto3
import pytest

from cluster_support import Cluster
from support import REGION, ROLE, client_for, make_zip, source_env, wait_for

pytest.importorskip("psycopg")

PRINTER = r'''
import json
def handler(event, context):
    for record in event["Records"]:
        print("BODY " + json.dumps(record["body"]))
'''


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, moto_server):
    cluster = Cluster(tmp_path_factory.mktemp("pollers"))
    cluster.env.update(source_env(moto_server))
    try:
        fronts = [cluster.front(), cluster.front()]
        cluster.worker()
        cluster.wait_workers(fronts[0], 1)
        yield cluster, fronts, moto_server
    finally:
        cluster.close()


def polling(front) -> int:
    return Cluster.health(front)["counts"]["eventSourceMappings"]["polling"]


def bodies(logs) -> set[str]:
    seen: set[str] = set()
    try:
        streams = logs.describe_log_streams(logGroupName="/aws/lambda/printer")["logStreams"]
    except logs.exceptions.ResourceNotFoundException:
        return seen
    for stream in streams:
        events = logs.get_log_events(logGroupName="/aws/lambda/printer", logStreamName=stream["logStreamName"],
                                     startFromHead=True, limit=10000)["events"]
        seen.update(json.loads(e["message"][5:]) for e in events if e["message"].startswith("BODY "))
    return seen


def test_one_front_polls_and_the_other_takes_over_when_it_dies(cluster):
    _, (a, b), moto_url = cluster
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name=REGION, aws_access_key_id="test",
                       aws_secret_access_key="test")
    queue_url = sqs.create_queue(QueueName="cluster-source", Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam = client_for(a.url)
    lam.create_function(FunctionName="printer", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": PRINTER})})
    lam.get_waiter("function_active_v2").wait(FunctionName="printer")
    lam.create_event_source_mapping(FunctionName="printer", EventSourceArn=queue_arn, BatchSize=5)
    wait_for(lambda: polling(a) + polling(b) == 1, timeout=30, what="one front polling the mapping")
    sent = {f"m{i}" for i in range(20)}
    for body in sorted(sent):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    logs = client_for(b.url, "logs")
    wait_for(lambda: sent <= bodies(logs), timeout=120, what="every message to run")
    assert polling(a) + polling(b) == 1

    holder, other = (a, b) if polling(a) == 1 else (b, a)
    holder.kill()
    wait_for(lambda: polling(other) == 1, timeout=60, what="the surviving front to take the pollers' lease")
    assert "pollers" in Cluster.health(other)["leases"]
    later = {f"n{i}" for i in range(10)}
    for body in sorted(later):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    logs = client_for(other.url, "logs")
    wait_for(lambda: sent | later <= bodies(logs), timeout=120, what="every message after the takeover to run")
