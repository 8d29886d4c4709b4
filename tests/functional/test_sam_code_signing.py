"""`lamina deploy` of AWS::Lambda::CodeSigningConfig against a real lamina: a config created with the
stack and bound to the functions that name it (by !Ref and by !GetAtt, so deployed first), changed in
place by a re-deploy (description, policy, tags) while a function's removed CodeSigningConfigArn unbinds
it, removed with the stack after its functions, and a config still used refused as Lambda refuses it."""

from __future__ import annotations

import sys

import pytest
from botocore.exceptions import ClientError

from support import ROLE, client_for, lamina_cli, plain_output

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Signing:
    Type: AWS::Lambda::CodeSigningConfig
    Properties:
      Description: {description}
      AllowedPublishers:
        SigningProfileVersionArns: [{profile}]
      CodeSigningPolicies:
        UntrustedArtifactOnDeployment: {policy}
      Tags:
        - Key: team
          Value: {team}
  BySam:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: {runtime}
      Role: {role}
{sam_binding}
  ByAttribute:
    Type: AWS::Lambda::Function
    Properties:
      Handler: index.handler
      Runtime: {runtime}
      Role: {role}
      Code:
        ZipFile: "def handler(event, context):\\n    return 2\\n"
      CodeSigningConfigArn: !GetAtt Signing.CodeSigningConfigArn
Outputs:
  ConfigId:
    Value: !GetAtt Signing.CodeSigningConfigId
"""


def run(*args, cwd, url):
    return lamina_cli(*args, url=url, cwd=cwd)


@pytest.fixture(scope="module")
def profile(lamina):
    made = client_for(lamina.url, "signer").put_signing_profile(
        profileName="stack", platformId="AWSLambda-SHA384-ECDSA", signatureValidityPeriod={"value": 1, "type": "DAYS"})
    return made["profileVersionArn"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("signed") / "signed"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    return root


def deploy(root, lamina, profile, *, description, policy, team, bound, stack="signed"):
    binding = "      CodeSigningConfigArn: !Ref Signing" if bound else ""
    (root / "template.yaml").write_text(TEMPLATE.format(
        description=description, profile=profile, policy=policy, team=team, runtime=RUNTIME, role=ROLE,
        sam_binding=binding))
    out = run("deploy", "--no-confirm", "--stack", stack, cwd=root, url=lamina.url)
    assert out.returncode == 0, out.stdout + out.stderr
    return plain_output(out.stdout + out.stderr)


def functions(lam, stack="signed"):
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith(stack + "-")]
    return {name.split("-")[1]: name for name in names}


def configs(lam):
    return {c["CodeSigningConfigArn"]: c for c in lam.list_code_signing_configs()["CodeSigningConfigs"]}


def test_the_config_is_created_before_the_functions_that_name_it(app, lamina, lam, profile):
    text = deploy(app, lamina, profile, description="first", policy="Warn", team="core", bound=True)
    (arn, config), = configs(lam).items()
    assert config["Description"] == "first"
    assert config["AllowedPublishers"] == {"SigningProfileVersionArns": [profile]}
    assert config["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core"}
    assert f"ConfigId = {config['CodeSigningConfigId']}" in text
    names = functions(lam)
    assert sorted(names) == ["ByAttribute", "BySam"]
    for name in names.values():
        assert lam.get_function_code_signing_config(FunctionName=name)["CodeSigningConfigArn"] == arn


def test_a_redeploy_updates_the_config_in_place_and_unbinds_a_function(app, lamina, lam, profile):
    (arn,) = configs(lam)
    text = deploy(app, lamina, profile, description="second", policy="Enforce", team="edge", bound=False)
    assert "Modify Signing AWS::Lambda::CodeSigningConfig" in text
    config = lam.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]  # the same config
    assert config["Description"] == "second"
    assert config["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Enforce"}
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "edge"}
    names = functions(lam)
    assert lam.get_function_code_signing_config(FunctionName=names["BySam"])["CodeSigningConfigArn"] == ""
    assert lam.get_function_code_signing_config(FunctionName=names["ByAttribute"])["CodeSigningConfigArn"] == arn
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == [
        lam.get_function_configuration(FunctionName=names["ByAttribute"])["FunctionArn"]]


def test_a_function_bound_again_follows_the_template(app, lamina, lam, profile):
    (arn,) = configs(lam)
    deploy(app, lamina, profile, description="second", policy="Enforce", team="edge", bound=True)
    names = functions(lam)
    assert lam.get_function_code_signing_config(FunctionName=names["BySam"])["CodeSigningConfigArn"] == arn


def test_delete_removes_the_functions_then_the_config(app, lamina, lam):
    (arn,) = configs(lam)
    out = run("delete", "--stack", "signed", "--no-confirm", cwd=app, url=lamina.url)
    assert out.returncode == 0, out.stdout + out.stderr
    assert functions(lam) == {}
    with pytest.raises(ClientError) as info:
        lam.get_code_signing_config(CodeSigningConfigArn=arn)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_config_still_used_is_not_deleted(tmp_path, lamina, lam, profile):
    """The config leaves the template while a function keeps its ARN as a literal: Lambda refuses the
    delete (ResourceConflictException) and the deploy says so; the config stays."""
    root = tmp_path / "pinned"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    deploy(root, lamina, profile, description="pinned", policy="Warn", team="core", bound=True, stack="pinned")
    (arn,) = configs(lam)
    kept = TEMPLATE.format(description="", profile=profile, policy="Warn", team="core", runtime=RUNTIME, role=ROLE,
                           sam_binding=f"      CodeSigningConfigArn: {arn}")
    head, rest = kept.split("  BySam:\n", 1)
    body = "  BySam:\n" + rest.split("  ByAttribute:\n", 1)[0]
    (root / "template.yaml").write_text(head.split("  Signing:\n")[0] + body)
    out = run("deploy", "--no-confirm", "--stack", "pinned", cwd=root, url=lamina.url)
    text = plain_output(out.stdout + out.stderr)
    assert out.returncode == 0, text
    function_arn = lam.get_function_configuration(FunctionName=functions(lam, "pinned")["BySam"])["FunctionArn"]
    assert (f"could not delete Signing: ResourceConflictException: The code signing configuration {arn} cannot be "
            f"deleted because it is used by the function {function_arn}.") in text
    assert lam.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]["Description"] == "pinned"
    assert run("delete", "--stack", "pinned", "--no-confirm", cwd=root, url=lamina.url).returncode == 0
    lam.delete_code_signing_config(CodeSigningConfigArn=arn)
