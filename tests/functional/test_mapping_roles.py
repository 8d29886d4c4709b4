"""Event source mappings and the execution role, with `--auth sigv4`, against a real lamina and a real
SQS / Kinesis (moto server): CreateEventSourceMapping and UpdateEventSourceMapping refuse a role that
may not read the source with AWS's texts; attaching AWSLambdaSQSQueueExecutionRole /
AWSLambdaKinesisExecutionRole makes them pass; a mapping whose role loses the permission while
polling shows it in StateTransitionReason and stops reading, and resumes when it is back."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from support import LAMBDA_TRUST as TRUST
from support import REGION, LaminaProcess, client_for, make_zip, source_env, wait_for

SQS_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
KINESIS_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaKinesisExecutionRole"
APP = r'''
def handler(event, context):
    for r in event["Records"]:
        print("REC " + r["body"])
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory, moto_server):
    process = LaminaProcess(tmp_path_factory.mktemp("esm-roles") / "data",
                            env={**source_env(moto_server), "LAMINA_AUTH": "sigv4",
                                 "LAMINA_MAPPING_BACKOFF_MAX": "1", "LAMINA_SQS_WAIT_SECONDS": "2"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def admin(server):
    """boto3 clients signed with the administrator key lamina made on its first start."""
    return lambda service: client_for(server.url, service)


def moto_client(moto_server, service: str):
    return boto3.client(service, endpoint_url=moto_server, region_name=REGION, aws_access_key_id="test",
                        aws_secret_access_key="test")


def deploy(admin, name: str, role: str) -> None:
    lam = admin("lambda")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Timeout=3,
                        Code={"ZipFile": make_zip({"app.py": APP})})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def refused(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


def printed(admin, function: str) -> list[str]:
    logs = admin("logs")
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern='"REC "')["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [event["message"].strip()[4:] for event in events]


def test_sqs_mapping_needs_a_role_that_may_read_the_queue(admin, moto_server):
    iam, lam, sqs = admin("iam"), admin("lambda"), moto_client(moto_server, "sqs")
    role = iam.create_role(RoleName="sqs-reader", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    deploy(admin, "reader", role)
    url = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    assert refused(lam.create_event_source_mapping, FunctionName="reader", EventSourceArn=arn) == (
        "InvalidParameterValueException",
        "The provided execution role does not have permissions to call ReceiveMessage on SQS")
    iam.put_role_policy(RoleName="sqs-reader", PolicyName="receive-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": arn}]}))
    assert refused(lam.create_event_source_mapping, FunctionName="reader", EventSourceArn=arn)[1] == (
        "The provided execution role does not have permissions to call DeleteMessage on SQS")
    iam.delete_role_policy(RoleName="sqs-reader", PolicyName="receive-only")
    iam.attach_role_policy(RoleName="sqs-reader", PolicyArn=SQS_POLICY)
    mapping = lam.create_event_source_mapping(FunctionName="reader", EventSourceArn=arn, BatchSize=1)
    uuid = mapping["UUID"]
    wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled", what="the mapping enabled")
    sqs.send_message(QueueUrl=url, MessageBody="first")
    wait_for(lambda: printed(admin, "reader") == ["first"], what="the first message")

    # The role loses the permission: the mapping says so and stops reading.
    iam.detach_role_policy(RoleName="sqs-reader", PolicyArn=SQS_POLICY)
    problem = "PROBLEM: The provided execution role does not have permissions to call ReceiveMessage on SQS"
    wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["StateTransitionReason"] == problem,
             what="the problem shown")
    assert refused(lam.update_event_source_mapping, UUID=uuid, BatchSize=2)[1] == problem[len("PROBLEM: "):]
    assert lam.update_event_source_mapping(UUID=uuid, Enabled=False)["State"] == "Disabling"  # always allowed
    wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled", what="the mapping disabled")
    assert refused(lam.update_event_source_mapping, UUID=uuid, Enabled=True)[1] == problem[len("PROBLEM: "):]
    iam.attach_role_policy(RoleName="sqs-reader", PolicyArn=SQS_POLICY)
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    iam.detach_role_policy(RoleName="sqs-reader", PolicyArn=SQS_POLICY)
    wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["StateTransitionReason"] == problem,
             what="the problem shown again")
    sqs.send_message(QueueUrl=url, MessageBody="second")
    time.sleep(3)
    assert printed(admin, "reader") == ["first"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 1

    # The permission is back: polling resumes and the message waiting is delivered.
    iam.attach_role_policy(RoleName="sqs-reader", PolicyArn=SQS_POLICY)
    wait_for(lambda: printed(admin, "reader") == ["first", "second"], what="the second message")
    assert lam.get_event_source_mapping(UUID=uuid)["StateTransitionReason"] == "USER_INITIATED"
    assert lam.update_event_source_mapping(UUID=uuid, BatchSize=2)["BatchSize"] == 2


def test_stream_mapping_needs_a_role_that_may_read_the_stream(admin, moto_server):
    iam, lam, kinesis = admin("iam"), admin("lambda"), moto_client(moto_server, "kinesis")
    role = iam.create_role(RoleName="stream-reader", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.attach_role_policy(RoleName="stream-reader", PolicyArn=SQS_POLICY)  # the wrong service
    deploy(admin, "streamer", role)
    kinesis.create_stream(StreamName="clicks", ShardCount=1)
    arn = kinesis.describe_stream(StreamName="clicks")["StreamDescription"]["StreamARN"]
    assert refused(lam.create_event_source_mapping, FunctionName="streamer", EventSourceArn=arn,
                   StartingPosition="TRIM_HORIZON") == (
        "InvalidParameterValueException",
        f"Cannot access stream {arn}. Please ensure the role can perform the GetRecords, GetShardIterator, "
        "DescribeStream, and ListStreams Actions on your stream in IAM.")
    iam.attach_role_policy(RoleName="stream-reader", PolicyArn=KINESIS_POLICY)
    mapping = lam.create_event_source_mapping(FunctionName="streamer", EventSourceArn=arn,
                                              StartingPosition="TRIM_HORIZON")
    assert mapping["State"] == "Creating"
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
