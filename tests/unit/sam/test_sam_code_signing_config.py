"""lamina.sam.code_signing_config and a function's CodeSigningConfigArn on update: what a template's
config becomes as API arguments, the order a config and the functions naming it deploy in, and which
Lambda calls an update makes (against a recording stand-in for the boto3 client)."""

from __future__ import annotations

import pytest

from lamina.sam.changes import order
from lamina.sam.code_signing_config import CodeSigningConfig, arguments
from lamina.sam.deployed import Deployed, Env
from lamina.sam.resources import HANDLERS, Function

PROFILE = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/p/v1"
ARN = "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdef0"
OTHER = "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-fedcba9876543210f"
PUBLISHERS = {"SigningProfileVersionArns": [PROFILE]}


@pytest.mark.parametrize(("props", "expected"), [
    ({"AllowedPublishers": PUBLISHERS},
     {"Description": "", "AllowedPublishers": PUBLISHERS, "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": "Warn"}}),
    ({"AllowedPublishers": PUBLISHERS, "Description": "d", "Tags": [{"Key": "a", "Value": "b"}],
      "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": "Enforce"}},
     {"Description": "d", "AllowedPublishers": PUBLISHERS,
      "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": "Enforce"}}),
    ({"AllowedPublishers": PUBLISHERS, "CodeSigningPolicies": {}},
     {"Description": "", "AllowedPublishers": PUBLISHERS, "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": "Warn"}}),
])
def test_arguments_put_back_aws_defaults_for_what_the_template_leaves_out(props, expected):
    assert arguments(props) == expected


def test_the_type_is_registered():
    assert isinstance(HANDLERS["AWS::Lambda::CodeSigningConfig"], CodeSigningConfig)


def test_functions_naming_the_config_by_ref_or_getatt_come_after_it():
    resources = {
        "ByRef": {"Type": "AWS::Lambda::Function", "Properties": {"CodeSigningConfigArn": {"Ref": "Signing"}}},
        "ByAtt": {"Type": "AWS::Lambda::Function",
                  "Properties": {"CodeSigningConfigArn": {"Fn::GetAtt": ["Signing", "CodeSigningConfigArn"]}}},
        "Signing": {"Type": "AWS::Lambda::CodeSigningConfig", "Properties": {"AllowedPublishers": PUBLISHERS}},
    }
    assert order(resources) == ["Signing", "ByRef", "ByAtt"]


class Recorder:
    """Answers like Lambda's code signing config API and records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def __getattr__(self, name: str):
        def call(**kwargs):
            self.calls.append((name, kwargs))
            config = {"CodeSigningConfigArn": ARN, "CodeSigningConfigId": ARN.rsplit(":", 1)[1]}
            return {"CodeSigningConfig": config}
        return call


def env_of(recorder: Recorder) -> Env:
    return Env(lambda service: recorder, "stack", "us-east-1", "000000000000", lambda logical_id: b"")


def test_create_answers_the_arn_for_ref_and_both_attributes():
    recorder = Recorder()
    made = CodeSigningConfig().create("Signing", {"AllowedPublishers": PUBLISHERS,
                                                  "Tags": [{"Key": "team", "Value": "core"}]}, env_of(recorder))
    assert made == Deployed(ARN, ARN, {"CodeSigningConfigArn": ARN, "CodeSigningConfigId": "csc-0123456789abcdef0"})
    assert recorder.calls == [("create_code_signing_config", {**arguments({"AllowedPublishers": PUBLISHERS}),
                                                              "Tags": {"team": "core"}})]


@pytest.mark.parametrize(("before", "after", "calls"), [
    ({"AllowedPublishers": PUBLISHERS}, {"AllowedPublishers": PUBLISHERS}, ["get_code_signing_config"]),
    ({"AllowedPublishers": PUBLISHERS}, {"AllowedPublishers": PUBLISHERS, "Description": "x"},
     ["update_code_signing_config", "get_code_signing_config"]),
    ({"AllowedPublishers": PUBLISHERS, "Tags": [{"Key": "a", "Value": "1"}]},
     {"AllowedPublishers": PUBLISHERS, "Tags": [{"Key": "b", "Value": "2"}]},
     ["untag_resource", "tag_resource", "get_code_signing_config"]),
])
def test_update_is_in_place_and_calls_only_what_changed(before, after, calls):
    recorder = Recorder()
    old = Deployed(ARN, ARN, {})
    made, replaced = CodeSigningConfig().update(old, before, after, env_of(recorder))
    assert not replaced and made.physical_id == ARN
    assert [name for name, _ in recorder.calls] == calls


@pytest.mark.parametrize(("before", "after", "call"), [
    (None, ARN, ("put_function_code_signing_config", {"FunctionName": "fn", "CodeSigningConfigArn": ARN})),
    (ARN, OTHER, ("put_function_code_signing_config", {"FunctionName": "fn", "CodeSigningConfigArn": OTHER})),
    (ARN, None, ("delete_function_code_signing_config", {"FunctionName": "fn"})),
    (ARN, ARN, None),
    (None, None, None),
])
def test_a_functions_code_signing_config_follows_the_template(before, after, call):
    recorder = Recorder()
    props = {"CodeSigningConfigArn": after} if after else {}
    Function()._code_signing(recorder, "fn", {"CodeSigningConfigArn": before} if before else {}, props)
    assert recorder.calls == ([call] if call else [])
