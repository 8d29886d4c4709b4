"""With `--auth sigv4`, an EventBridge rule whose target function does not grant
events.amazonaws.com lambda:InvokeFunction is refused, not retried, and its event lands in the
target's dead-letter queue (moto's SQS) with ERROR_CODE NO_PERMISSIONS; once AddPermission grants
the rule, the next event reaches the function."""

from __future__ import annotations

import json

import boto3
import pytest

from support import LAMBDA_TRUST as TRUST
from support import REGION, LaminaProcess, client_for, make_zip, source_env, wait_for

APP = 'def handler(event, context):\n    print("GOT " + event["detail-type"])\n'


@pytest.fixture(scope="module")
def server(tmp_path_factory, moto_server):
    process = LaminaProcess(tmp_path_factory.mktemp("eb-dlq-auth") / "data",
                            env={**source_env(moto_server), "LAMINA_AUTH": "sigv4",
                                 "LAMINA_ASYNC_BACKOFF_SCALE": "0.01"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def admin(server):
    """boto3 clients signed with the administrator key lamina made on its first start."""
    return lambda service: client_for(server.url, service)


def test_a_target_without_a_grant_is_dead_lettered_as_no_permissions(admin, moto_server):
    iam, lam, events = admin("iam"), admin("lambda"), admin("events")
    sqs = boto3.client("sqs", endpoint_url=moto_server, region_name=REGION, aws_access_key_id="test",
                       aws_secret_access_key="test")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    function_arn = lam.create_function(FunctionName="guarded", Runtime="python3.12", Role=role,
                                       Handler="app.handler",
                                       Code={"ZipFile": make_zip({"app.py": APP})})["FunctionArn"]
    lam.get_waiter("function_active_v2").wait(FunctionName="guarded")
    url = sqs.create_queue(QueueName="guarded-dlq")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule_arn = events.put_rule(Name="guarded", EventPattern=json.dumps({"source": ["app"]}))["RuleArn"]
    events.put_targets(Rule="guarded", Targets=[{"Id": "1", "Arn": function_arn,
                                                  "DeadLetterConfig": {"Arn": queue_arn}}])

    events.put_events(Entries=[{"Source": "app", "DetailType": "first", "Detail": "{}"}])
    [message] = wait_for(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MessageAttributeNames=["All"])
                         .get("Messages"), what="the dead letter")
    attributes = {key: value["StringValue"] for key, value in message["MessageAttributes"].items()}
    assert attributes == {
        "RULE_ARN": rule_arn, "TARGET_ARN": function_arn, "ERROR_CODE": "NO_PERMISSIONS",
        "ERROR_MESSAGE": f"User: events.amazonaws.com is not authorized to perform: lambda:InvokeFunction on "
                         f"resource: {function_arn} because no resource-based policy allows the "
                         "lambda:InvokeFunction action",
        "RETRY_ATTEMPTS": "0"}
    assert json.loads(message["Body"])["detail-type"] == "first"

    lam.add_permission(FunctionName="guarded", StatementId="rule", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=rule_arn)
    events.put_events(Entries=[{"Source": "app", "DetailType": "second", "Detail": "{}"}])
    logs = admin("logs")

    def printed():
        try:
            found = logs.filter_log_events(logGroupName="/aws/lambda/guarded")["events"]
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [e["message"].strip() for e in found if e["message"].startswith("GOT ")]
    assert wait_for(printed, what="the granted event") == ["GOT second"]
