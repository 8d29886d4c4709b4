"""EventBridge target RetryPolicy and DeadLetterConfig applied, against a real lamina and a real SQS
(moto server): an event whose target function does not exist is not retried (AWS does not retry a
missing resource) and lands in the target's dead-letter queue with AWS's message attributes; one
without a DeadLetterConfig is dropped; a working target beside it still receives its event."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from support import ACCOUNT, REGION, ROLE, LaminaProcess, client_for, make_zip, source_env

FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
APP = r'''
import json

def record(event, context):
    print("RECORD " + json.dumps(event))
'''


@pytest.fixture(scope="module")
def sqs(moto_server):
    return boto3.client("sqs", endpoint_url=moto_server, region_name=REGION, aws_access_key_id="test",
                        aws_secret_access_key="test")


@pytest.fixture(scope="module")
def server(tmp_path_factory, moto_server):
    process = LaminaProcess(tmp_path_factory.mktemp("eb-dlq") / "data",
                            env={**source_env(moto_server), "LAMINA_ASYNC_BACKOFF_SCALE": "0.01"}).start()
    yield process
    process.stop()


def make_queue(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def receive(sqs, url: str, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       MessageAttributeNames=["All"]).get("Messages", [])
        if messages:
            return messages
    return []


def test_missing_function_lands_in_the_dead_letter_queue(server, sqs):
    events = client_for(server.url, "events")
    url, arn = make_queue(sqs, "rule-dlq")
    rule_arn = events.put_rule(Name="to-ghost", EventPattern=json.dumps({"source": ["shop"]}))["RuleArn"]
    ghost = f"{FN}:ghost"
    events.put_targets(Rule="to-ghost", Targets=[
        {"Id": "ghost", "Arn": ghost, "DeadLetterConfig": {"Arn": arn},
         "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 60}},
        {"Id": "nodlq", "Arn": f"{FN}:ghost2"}])
    assert events.list_targets_by_rule(Rule="to-ghost")["Targets"][0]["RetryPolicy"] == {
        "MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 60}
    put = events.put_events(Entries=[{"Source": "shop", "DetailType": "Order", "Detail": json.dumps({"n": 1})}])
    assert put["FailedEntryCount"] == 0

    [message] = receive(sqs, url)
    event = json.loads(message["Body"])
    assert (event["id"], event["source"], event["detail-type"], event["detail"]) == (
        put["Entries"][0]["EventId"], "shop", "Order", {"n": 1})
    attributes = {key: (value["DataType"], value["StringValue"]) for key, value in message["MessageAttributes"].items()}
    assert attributes == {
        "RULE_ARN": ("String", rule_arn), "TARGET_ARN": ("String", ghost), "ERROR_CODE": ("String", "NO_RESOURCE"),
        "ERROR_MESSAGE": ("String", f"Function not found: {ghost}:$LATEST"), "RETRY_ATTEMPTS": ("Number", "0")}
    assert receive(sqs, url, timeout=2) == []  # once, and the target without a DLQ sent nothing here


def test_a_working_target_beside_a_dead_letter_one_is_invoked(server, sqs):
    lam = client_for(server.url)
    lam.create_function(FunctionName="alive", Runtime="python3.12", Role=ROLE, Handler="app.record",
                        Code={"ZipFile": make_zip({"app.py": APP})})
    lam.get_waiter("function_active_v2").wait(FunctionName="alive")
    events = client_for(server.url, "events")
    url, arn = make_queue(sqs, "rule-dlq-2")
    events.put_rule(Name="both", EventPattern=json.dumps({"source": ["both"]}))
    events.put_targets(Rule="both", Targets=[
        {"Id": "alive", "Arn": f"{FN}:alive", "DeadLetterConfig": {"Arn": arn}},
        {"Id": "gone", "Arn": f"{FN}:gone", "DeadLetterConfig": {"Arn": arn}}])
    events.put_events(Entries=[{"Source": "both", "DetailType": "T", "Detail": "{}"}])
    [message] = receive(sqs, url)
    assert message["MessageAttributes"]["TARGET_ARN"]["StringValue"] == f"{FN}:gone"
    logs = client_for(server.url, "logs")
    deadline, seen = time.monotonic() + 30, []
    while time.monotonic() < deadline and not seen:
        try:
            seen = [e for e in logs.filter_log_events(logGroupName="/aws/lambda/alive")["events"]
                    if e["message"].startswith("RECORD ")]
        except logs.exceptions.ResourceNotFoundException:
            pass
        time.sleep(0.3)
    assert len(seen) == 1 and json.loads(seen[0]["message"][7:])["source"] == "both"
