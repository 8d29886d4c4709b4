"""`lamina deploy` / `lamina delete` against a real lamina: a SAM stack is created, changed by its diff
only, rolled back when a step fails, and removed without leftovers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support import ROLE, lamina_cli, plain_output

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def template(greeting: str, *, with_second: bool = True, memory: int = 128, bad_layer: bool = False) -> str:
    runtimes = "[nodejs99.x]" if bad_layer else f"[{RUNTIME}]"
    second = f"""
  Second:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: second/
      Role: {ROLE}
      Layers: [!Ref Shared]
""" if with_second else ""
    return f"""\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Runtime: {RUNTIME}
    Handler: app.handler
    Timeout: 10
    Environment:
      Variables:
        STAGE: !Ref Stage
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello/
      Role: {ROLE}
      MemorySize: !If [IsProd, 1024, {memory}]
      AutoPublishAlias: live
      EventInvokeConfig:
        MaximumRetryAttempts: 1
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: shared/
      CompatibleRuntimes: {runtimes}
      RetentionPolicy: Delete
    Metadata:
      BuildMethod: {RUNTIME}
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub /aws/lambda/${{Hello}}
      RetentionInDays: 7
  Topic:
    Type: AWS::SNS::Topic
{second}
Outputs:
  HelloArn:
    Value: !GetAtt Hello.Arn
  Alias:
    Value: !Ref HelloAliaslive
"""


def write_app(root, greeting):
    (root / "hello").mkdir(exist_ok=True)
    (root / "hello" / "app.py").write_text(
        f"import os\n\ndef handler(event, context):\n    return {{'greeting': {greeting!r}, 'stage': os.environ['STAGE']}}\n")
    (root / "second").mkdir(exist_ok=True)
    (root / "second" / "app.py").write_text(
        "def handler(event, context):\n    import helpers\n    return helpers.VALUE\n")
    (root / "shared").mkdir(exist_ok=True)
    (root / "shared" / "helpers.py").write_text("VALUE = 'from the layer'\n")


def run(*args, cwd, url):
    return lamina_cli(*args, url=url, cwd=cwd)


def stack_functions(lam):
    return sorted(f["FunctionName"] for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith("app-"))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("samapp") / "app"
    root.mkdir()
    write_app(root, "hello")
    (root / "template.yaml").write_text(template("hello"))
    return root


def invoke(lam, name, qualifier=None):
    kwargs = {"Qualifier": qualifier} if qualifier else {}
    out = lam.invoke(FunctionName=name, **kwargs)
    assert "FunctionError" not in out, out["Payload"].read()
    return json.loads(out["Payload"].read())


def test_deploy_creates_the_stack(app, lamina, lam):
    out = run("deploy", "--no-confirm", cwd=app, url=lamina.url)
    assert out.returncode == 0, out.stdout + out.stderr
    text = plain_output(out.stdout)
    assert "not deployed Topic (AWS::SNS::Topic)" in text
    assert "Stack app deployed." in text
    names = stack_functions(lam)
    assert len(names) == 2 and all(n.startswith(("app-Hello-", "app-Second-")) for n in names)
    hello = next(n for n in names if n.startswith("app-Hello-"))
    assert invoke(lam, hello, "live") == {"greeting": "hello", "stage": "dev"}
    second = next(n for n in names if n.startswith("app-Second-"))
    assert invoke(lam, second) == "from the layer"
    assert lam.get_function_event_invoke_config(FunctionName=hello, Qualifier="live")["MaximumRetryAttempts"] == 1
    assert f"HelloArn = arn:aws:lambda:us-east-1:000000000000:function:{hello}" in text
    logs = lamina_logs(lamina)
    assert logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{hello}")["logGroups"][0]["retentionInDays"] == 7


def lamina_logs(lamina):
    from support import client_for

    return client_for(lamina.url, "logs")


def test_redeploy_without_changes_changes_nothing(app, lamina):
    out = run("deploy", "--no-confirm", cwd=app, url=lamina.url)
    assert out.returncode == 0 and "No changes to deploy" in out.stdout, out.stdout + out.stderr


def test_a_code_and_config_edit_applies_only_the_diff(app, lamina, lam):
    write_app(app, "bonjour")
    (app / "template.yaml").write_text(template("bonjour", memory=256))
    out = run("deploy", "--no-confirm", cwd=app, url=lamina.url)
    assert out.returncode == 0, out.stdout + out.stderr
    text = plain_output(out.stdout)
    assert "Modify Hello AWS::Lambda::Function" in text
    assert "Second" not in text.split("Changes to stack app")[1].split("deployed")[0]  # untouched
    hello = next(n for n in stack_functions(lam) if n.startswith("app-Hello-"))
    assert lam.get_function_configuration(FunctionName=hello)["MemorySize"] == 256
    assert invoke(lam, hello, "live")["greeting"] == "bonjour"  # a new version behind the alias
    assert len(lam.list_versions_by_function(FunctionName=hello)["Versions"]) == 3  # $LATEST, 1, 2


def test_a_failing_step_rolls_the_deploy_back(app, lamina, lam):
    hello = next(n for n in stack_functions(lam) if n.startswith("app-Hello-"))
    write_app(app, "broken")
    (app / "template.yaml").write_text(template("broken", memory=512, bad_layer=True))
    out = run("deploy", "--no-confirm", cwd=app, url=lamina.url)
    assert out.returncode == 1, out.stdout
    assert "rolled back" in " ".join((out.stdout + out.stderr).split())
    # the step's line keeps Lambda's message whole: its brackets are text, not rich markup
    failed = plain_output(out.stdout).split("failed: ", 1)[1].split("; rolling back")[0]
    assert "Member must satisfy enum value set: [" in failed, failed
    assert lam.get_function_configuration(FunctionName=hello)["MemorySize"] == 256
    assert invoke(lam, hello)["greeting"] == "bonjour"  # the previous code is back
    write_app(app, "bonjour")
    (app / "template.yaml").write_text(template("bonjour", memory=256))


def test_removing_a_function_from_the_template_removes_it(app, lamina, lam):
    (app / "template.yaml").write_text(template("bonjour", memory=256, with_second=False))
    out = run("deploy", "--no-confirm", cwd=app, url=lamina.url)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Remove Second AWS::Lambda::Function" in plain_output(out.stdout)
    assert [n for n in stack_functions(lam) if n.startswith("app-Second-")] == []


def test_delete_leaves_nothing(app, lamina, lam):
    hello = next(n for n in stack_functions(lam) if n.startswith("app-Hello-"))
    out = run("delete", "--stack", "app", "--no-confirm", cwd=app, url=lamina.url)
    assert out.returncode == 0, out.stdout + out.stderr
    assert stack_functions(lam) == []
    assert lam.list_layers()["Layers"] == []
    # The stack's log group is gone (log groups Lambda made itself outlive the stack, as on AWS).
    assert lamina_logs(lamina).describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{hello}")["logGroups"] == []
    again = run("delete", "--stack", "app", "--no-confirm", cwd=app, url=lamina.url)
    assert again.returncode == 1 and "does not exist" in again.stderr + again.stdout


BAD = [
    ("Resources:\n  A: [oops\n", "template.yaml:3:1"),
    ("Resources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n"
     "      Handler: a.b\n      CodeUri: .\n      MemorySize: !Bogus 1\n", "unknown tag !Bogus"),
    ("Transform: AWS::Serverless-2016-10-31\nResources:\n  A:\n    Type: AWS::Serverless::Function\n"
     "    Properties:\n      Runtime: python3.12\n      Handler: a.b\n      CodeUri: .\n      Events:\n"
     "        E:\n          Type: NoSuchEvent\n", "NoSuchEvent"),
    ("Resources:\n  A:\n    Type: AWS::Lambda::Function\n    Properties:\n      Role: !Ref Missing\n",
     "Missing is neither a parameter nor a resource"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_templates_change_nothing(tmp_path, lamina, lam, text, message):
    (tmp_path / "template.yaml").write_text(text)
    before = stack_functions(lam)
    out = run("deploy", "--no-confirm", "--stack", "bad", cwd=tmp_path, url=lamina.url)
    assert out.returncode == 1
    assert message in " ".join((out.stdout + out.stderr).split())
    assert stack_functions(lam) == before


def test_the_stacks_api_answers_bad_input_with_aws_errors(lamina):
    import httpx

    base = lamina.url + "/_lamina/stacks"
    cases = [
        (httpx.put(base + "/s1", content=b"{not json"), 400, "InvalidRequestContentException"),
        (httpx.put(base + "/s1", json={"resources": []}), 400, "InvalidParameterValueException"),
        (httpx.put(base + "/1bad", json={"resources": {}}), 400, "InvalidParameterValueException"),
        (httpx.get(base + "/missing"), 404, "ResourceNotFoundException"),
        (httpx.delete(base + "/missing"), 404, "ResourceNotFoundException"),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.headers["x-amzn-ErrorType"]) == (status, code), response.text
    stored = httpx.put(base + "/s1", json={"resources": {}, "note": "x"})
    assert stored.status_code == 200 and stored.json()["Document"]["note"] == "x"
    assert "s1" in [stack["StackName"] for stack in httpx.get(base).json()["Stacks"]]
    assert httpx.delete(base + "/s1").status_code == 204


GRADUAL = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Shifty:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: {runtime}
      Role: {role}
      AutoPublishAlias: live
      DeploymentPreference:
        Type: Canary10Percent5Minutes
"""


def test_deployment_preference_shifts_the_alias_gradually(tmp_path, lamina, lam):
    import os
    import time

    root = tmp_path / "gradual"
    (root / "src").mkdir(parents=True)
    (root / "template.yaml").write_text(GRADUAL.format(runtime=RUNTIME, role=ROLE))
    (root / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    first = run("deploy", "--no-confirm", cwd=root, url=lamina.url)
    assert first.returncode == 0, first.stdout + first.stderr
    name = next(f["FunctionName"] for f in lam.list_functions()["Functions"]
                if f["FunctionName"].startswith("gradual-Shifty-"))
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"  # a first deploy: no shifting
    (root / "src" / "app.py").write_text("def handler(event, context):\n    return 2\n")
    env = {**os.environ, "LAMINA_DEPLOY_MINUTE_SECONDS": "0.6"}  # the canary's 5 minutes last 3 s
    shifting = subprocess.Popen([sys.executable, "-m", "lamina.cli", "deploy", "--no-confirm", "--endpoint",
                                 lamina.url], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env)
    seen_canary = False
    deadline = time.monotonic() + 120
    while shifting.poll() is None and time.monotonic() < deadline:
        alias = lam.get_alias(FunctionName=name, Name="live")
        weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
        if alias["FunctionVersion"] == "1" and weights == {"2": 0.1}:
            seen_canary = True
        time.sleep(0.1)
    output = shifting.communicate(timeout=60)[0]
    assert shifting.returncode == 0, output
    assert seen_canary, output  # 10 % on version 2 while version 1 kept the rest
    alias = lam.get_alias(FunctionName=name, Name="live")
    assert alias["FunctionVersion"] == "2" and not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert "10% of traffic on version 2" in output
    assert run("delete", "--stack", "gradual", "--no-confirm", cwd=root, url=lamina.url).returncode == 0


def test_lifecycle_hooks_are_refused_before_anything_is_deployed(tmp_path, lamina, lam):
    root = tmp_path / "hooks"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (root / "template.yaml").write_text(GRADUAL.format(runtime=RUNTIME, role=ROLE) + (
        "        Hooks:\n          PreTraffic: !Ref Shifty\n"))
    out = run("deploy", "--no-confirm", cwd=root, url=lamina.url)
    assert out.returncode == 1 and "does not run CodeDeploy lifecycle hooks" in plain_output(out.stdout + out.stderr)
    assert not [f for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith("hooks-")]


TAGGED = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: {runtime}
      Role: {role}
      Tags:
        team: core
      PropagateTags: true
      Events:
        Orders:
          Type: SQS
          Properties:
            Queue: arn:aws:sqs:us-east-1:000000000000:tagged-generated
            Enabled: false
  Declared:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref Worker
      EventSourceArn: arn:aws:sqs:us-east-1:000000000000:tagged-declared
      Enabled: false
      Tags:
{tags}
"""


def test_a_mappings_tags_are_deployed_and_redeployed(tmp_path, lamina, lam):
    """A declared AWS::Lambda::EventSourceMapping's Tags land on the mapping and follow the template; the
    mapping SAM generates from a function's SQS event has none (SAM's translator gives it no Tags, even
    with PropagateTags), while the function itself gets the function's Tags."""
    root = tmp_path / "tagged"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")

    def deploy(tags: dict[str, str]) -> None:
        lines = "\n".join(f"        - Key: {k}\n          Value: '{v}'" for k, v in tags.items())
        (root / "template.yaml").write_text(TAGGED.format(runtime=RUNTIME, role=ROLE, tags=lines))
        out = run("deploy", "--no-confirm", cwd=root, url=lamina.url)
        assert out.returncode == 0, out.stdout + out.stderr

    def tags_of(queue: str) -> dict[str, str]:
        mapping, = lam.list_event_source_mappings(
            EventSourceArn=f"arn:aws:sqs:us-east-1:000000000000:{queue}")["EventSourceMappings"]
        return lam.list_tags(Resource=mapping["EventSourceMappingArn"])["Tags"]

    deploy({"team": "core", "stage": "dev"})
    assert tags_of("tagged-declared") == {"team": "core", "stage": "dev"}
    assert tags_of("tagged-generated") == {}
    worker = next(f["FunctionArn"] for f in lam.list_functions()["Functions"]
                  if f["FunctionName"].startswith("tagged-Worker-"))
    assert lam.list_tags(Resource=worker)["Tags"]["team"] == "core"
    uuid = lam.list_event_source_mappings(
        EventSourceArn="arn:aws:sqs:us-east-1:000000000000:tagged-declared")["EventSourceMappings"][0]["UUID"]

    deploy({"team": "edge", "owner": "ana"})  # one changed, one gone, one new: the same mapping, retagged
    assert tags_of("tagged-declared") == {"team": "edge", "owner": "ana"}
    assert lam.list_event_source_mappings(
        EventSourceArn="arn:aws:sqs:us-east-1:000000000000:tagged-declared")["EventSourceMappings"][0]["UUID"] == uuid
    assert run("delete", "--stack", "tagged", "--no-confirm", cwd=root, url=lamina.url).returncode == 0
