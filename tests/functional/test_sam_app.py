"""A whole SAM application deployed with `lamina deploy` against a real lamina and a real moto SQS: two
functions (one with a C-extension dependency, one behind a function URL with AutoPublishAlias and a layer),
an SQS event, a schedule, execution roles SAM generates; every trigger delivers; `lamina delete` removes it."""

from __future__ import annotations

import json
import sys
import urllib.request
from urllib.parse import urlsplit

import boto3
import pytest

from support import REGION, LaminaProcess, MotoServer, client_for, lamina_cli, source_env, wait_for

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
TEMPLATE = f"""\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  QueueArn:
    Type: String
Globals:
  Function:
    Runtime: {RUNTIME}
    Handler: app.handler
    Timeout: 10
Resources:
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: api/
      AutoPublishAlias: live
      Layers: [!Ref Shared]
      FunctionUrlConfig:
        AuthType: NONE
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Events:
        Orders:
          Type: SQS
          Properties:
            Queue: !Ref QueueArn
            BatchSize: 5
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: shared/
      RetentionPolicy: Delete
    Metadata:
      BuildMethod: {RUNTIME}
Outputs:
  ApiUrl:
    Value: !GetAtt ApiUrl.FunctionUrl
"""
API = """\
import json
import shared

def handler(event, context):
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"path": event["rawPath"], "shared": shared.NAME,
                                "version": context.function_version})}
"""
WORKER = """\
import markupsafe
from markupsafe import _speedups  # the manylinux wheel's C extension

def handler(event, context):
    if event.get("source") == "aws.events":
        print("tick", event["detail-type"])
        return
    for record in event["Records"]:
        print("escaped", str(markupsafe.escape(record["body"])))
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("samapp") / "shop"
    for folder, files in {"api": {"app.py": API}, "worker": {"app.py": WORKER, "requirements.txt": "markupsafe==3.0.2\n"},
                          "shared": {"shared.py": "NAME = 'layer'\n"}}.items():
        (root / folder).mkdir(parents=True)
        for name, text in files.items():
            (root / folder / name).write_text(text)
    (root / "template.yaml").write_text(TEMPLATE)
    moto = MotoServer(tmp_path_factory.mktemp("moto")).start()
    lamina = LaminaProcess(tmp_path_factory.mktemp("lamina") / "data",
                           env={**source_env(moto.url), "LAMINA_SCHEDULE_MINUTE_SECONDS": "2",
                                "LAMINA_MAPPING_BACKOFF_MAX": "1"}).start()
    sqs = boto3.client("sqs", endpoint_url=moto.url, region_name=REGION, aws_access_key_id="test",
                       aws_secret_access_key="test")
    queue_url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    yield root, lamina, sqs, queue_url, queue_arn
    lamina.stop()
    moto.stop()


def cli(*args, cwd, url):
    return lamina_cli(*args, url=url, cwd=cwd, timeout=600)


def logged(lamina, function_name: str, needle: str) -> list[str]:
    logs = client_for(lamina.url, "logs")
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function_name}", filterPattern=f'"{needle}"')
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [e["message"].strip() for e in events["events"]]


def test_the_whole_app_deploys_runs_and_goes(stack):
    root, lamina, sqs, queue_url, queue_arn = stack
    out = cli("deploy", "--no-confirm", "--parameter-overrides", f"QueueArn={queue_arn}", cwd=root, url=lamina.url)
    assert out.returncode == 0, out.stdout + out.stderr
    lam = client_for(lamina.url)
    names = {f["FunctionName"].split("-")[1]: f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert set(names) == {"Api", "Worker"}

    # SAM generated the execution roles in lamina's IAM, with the SQS policy its SQS event implies.
    iam = client_for(lamina.url, "iam")
    worker_role = lam.get_function_configuration(FunctionName=names["Worker"])["Role"].rsplit("/", 1)[1]
    attached = {p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=worker_role)["AttachedPolicies"]}
    assert {"AWSLambdaBasicExecutionRole", "AWSLambdaSQSQueueExecutionRole"} <= attached

    # The function URL (AutoPublishAlias: the URL is on the alias) serves the layer's code.
    url = next(line.split(" = ", 1)[1] for line in out.stdout.splitlines() if line.strip().startswith("ApiUrl = "))
    url_id = urlsplit(url).hostname.split(".")[0]
    with urllib.request.urlopen(f"{lamina.url}/lambda-url/{url_id}/hello", timeout=30) as response:
        assert json.loads(response.read()) == {"path": "/hello", "shared": "layer", "version": "1"}

    # The SQS event feeds the worker, whose C extension loads.
    for n in range(7):
        sqs.send_message(QueueUrl=queue_url, MessageBody=f"<order {n}>")
    wait_for(lambda: len(logged(lamina, names["Worker"], "escaped")) >= 7, timeout=90)
    assert "escaped &lt;order 3&gt;" in logged(lamina, names["Worker"], "escaped")

    # The schedule fires (minutes of 2 s here).
    wait_for(lambda: logged(lamina, names["Worker"], "tick"), timeout=90)
    assert logged(lamina, names["Worker"], "tick")[0] == "tick Scheduled Event"

    # Nothing changed: nothing to deploy.
    again = cli("deploy", "--no-confirm", "--parameter-overrides", f"QueueArn={queue_arn}", cwd=root, url=lamina.url)
    assert again.returncode == 0 and "No changes to deploy" in again.stdout, again.stdout + again.stderr

    # lamina delete removes the functions, the mapping, the rule, the roles and the layer.
    gone = cli("delete", "--stack", "shop", "--no-confirm", cwd=root, url=lamina.url)
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert lam.list_functions()["Functions"] == []
    assert lam.list_event_source_mappings()["EventSourceMappings"] == []
    assert lam.list_layers()["Layers"] == []
    assert client_for(lamina.url, "events").list_rules()["Rules"] == []
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("shop-")]
