"""Attribute-based access control with `--auth sigv4`, through boto3 with keys lamina issued:
aws:ResourceTag/<key> decides on a function's current tags (a retag applies to the next call),
aws:RequestTag/<key> on the tags a CreateFunction sets, and aws:TagKeys on the keys TagResource and
UntagResource name; a code signing config's tags decide the calls on it, and the tags its
CreateCodeSigningConfig sets decide that call."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from support import LAMBDA_TRUST as TRUST
from support import REGION, Keys, make_zip, policy

CODE = make_zip({"app.py": "def handler(e, c):\n    return 'hi'\n"})


@pytest.fixture(scope="module")
def world(admin):
    """Two functions made by the admin, one tagged team=blue and one team=red."""
    role = admin.client("iam").create_role(RoleName="abac-exec", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    lam = admin.client("lambda")
    for name, team in (("blue-fn", "blue"), ("red-fn", "red")):
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": CODE}, Tags={"team": team})
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
    account = admin.client("sts").get_caller_identity()["Account"]
    return {"account": account, "role": role, "arn": f"arn:aws:lambda:{REGION}:{account}:function:"}


def user(admin: Keys, name: str, *statements) -> Keys:
    iam = admin.client("iam")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Keys(admin.url, key["AccessKeyId"], key["SecretAccessKey"])


def refusal(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response


def invoked(lam, name: str, **kwargs) -> str:
    return json.loads(lam.invoke(FunctionName=name, Payload=b"{}", **kwargs)["Payload"].read())


def test_resource_tag_decides_invoke_on_the_current_tags(admin, world):
    lam = user(admin, "blue-team", {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*",
                                    "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}}}).client("lambda")
    assert invoked(lam, "blue-fn") == "hi"
    response = refusal(lam.invoke, FunctionName="red-fn", Payload=b"{}")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert response["Error"]["Message"] == (
        f"User: arn:aws:iam::{world['account']}:user/blue-team is not authorized to perform: lambda:InvokeFunction "
        f"on resource: {world['arn']}red-fn because no identity-based policy allows the lambda:InvokeFunction action")

    # A version carries its function's tags; the denial names the ARN as addressed.
    admin_lam = admin.client("lambda")
    version = admin_lam.publish_version(FunctionName="red-fn")["Version"]
    assert refusal(lam.invoke, FunctionName="red-fn", Qualifier=version, Payload=b"{}")["Error"]["Message"].startswith(
        f"User: arn:aws:iam::{world['account']}:user/blue-team is not authorized to perform: lambda:InvokeFunction "
        f"on resource: {world['arn']}red-fn:{version} because")

    # Retagging changes the next decision: nothing is cached.
    admin_lam.tag_resource(Resource=f"{world['arn']}red-fn", Tags={"team": "blue"})
    assert invoked(lam, "red-fn") == "hi"
    assert invoked(lam, "red-fn", Qualifier=version) == "hi"
    admin_lam.tag_resource(Resource=f"{world['arn']}red-fn", Tags={"team": "red"})
    assert refusal(lam.invoke, FunctionName="red-fn", Payload=b"{}")["Error"]["Code"] == "AccessDeniedException"
    admin_lam.untag_resource(Resource=f"{world['arn']}blue-fn", TagKeys=["team"])
    assert refusal(lam.invoke, FunctionName="blue-fn", Payload=b"{}")["Error"]["Code"] == "AccessDeniedException"
    admin_lam.tag_resource(Resource=f"{world['arn']}blue-fn", Tags={"team": "blue"})
    assert invoked(lam, "blue-fn") == "hi"


def test_a_deny_without_a_request_tag_refuses_untagged_creation(admin, world):
    lam = user(admin, "tagging-deployer",
               {"Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:GetFunction", "iam:PassRole"],
                "Resource": "*"},
               {"Effect": "Deny", "Action": "lambda:CreateFunction", "Resource": "*",
                "Condition": {"Null": {"aws:RequestTag/env": "true"}}}).client("lambda")
    create = {"Runtime": "python3.12", "Role": world["role"], "Handler": "app.handler", "Code": {"ZipFile": CODE}}
    for tags in ({}, {"Tags": {"team": "blue"}}):
        response = refusal(lam.create_function, FunctionName="untagged", **create, **tags)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert response["Error"]["Message"] == (
            f"User: arn:aws:iam::{world['account']}:user/tagging-deployer is not authorized to perform: "
            f"lambda:CreateFunction on resource: {world['arn']}untagged with an explicit deny in an identity-based "
            "policy")
    assert refusal(admin.client("lambda").get_function, FunctionName="untagged")["Error"]["Code"] == \
        "ResourceNotFoundException"
    made = lam.create_function(FunctionName="tagged", **create, Tags={"env": "dev"})
    assert made["FunctionName"] == "tagged"
    assert lam.get_function(FunctionName="tagged")["Tags"] == {"env": "dev"}


def test_tag_keys_limit_which_keys_tag_and_untag_may_name(admin, world):
    lam = user(admin, "tag-keeper",
               {"Effect": "Allow", "Action": ["lambda:TagResource", "lambda:UntagResource", "lambda:ListTags"],
                "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["cost", "owner"]}}}
               ).client("lambda")
    arn = f"{world['arn']}blue-fn"
    lam.tag_resource(Resource=arn, Tags={"cost": "1", "owner": "me"})
    response = refusal(lam.tag_resource, Resource=arn, Tags={"cost": "2", "team": "red"})
    assert response["Error"]["Message"] == (
        f"User: arn:aws:iam::{world['account']}:user/tag-keeper is not authorized to perform: lambda:TagResource on "
        f"resource: {arn} because no identity-based policy allows the lambda:TagResource action")
    assert refusal(lam.untag_resource, Resource=arn, TagKeys=["team"])["Error"]["Code"] == "AccessDeniedException"
    lam.untag_resource(Resource=arn, TagKeys=["owner"])
    assert admin.client("lambda").list_tags(Resource=arn)["Tags"] == {"team": "blue", "cost": "1"}


PUBLISHERS = {"SigningProfileVersionArns": [f"arn:aws:signer:{REGION}:000000000000:/signing-profiles/p/v1"]}


def test_a_code_signing_configs_tags_decide_the_calls_on_it(admin, world):
    admin_lam = admin.client("lambda")
    blue, red = (admin_lam.create_code_signing_config(AllowedPublishers=PUBLISHERS, Tags={"team": team})[
        "CodeSigningConfig"]["CodeSigningConfigArn"] for team in ("blue", "red"))
    lam = user(admin, "csc-blue", {
        "Effect": "Allow", "Resource": "*", "Condition": {"StringEquals": {"aws:ResourceTag/team": "blue"}},
        "Action": ["lambda:GetCodeSigningConfig", "lambda:UpdateCodeSigningConfig", "lambda:ListTags",
                   "lambda:TagResource", "lambda:DeleteCodeSigningConfig"]}).client("lambda")
    assert lam.get_code_signing_config(CodeSigningConfigArn=blue)["CodeSigningConfig"]["CodeSigningConfigArn"] == blue
    lam.update_code_signing_config(CodeSigningConfigArn=blue, Description="mine")
    assert lam.list_tags(Resource=blue)["Tags"] == {"team": "blue"}
    response = refusal(lam.get_code_signing_config, CodeSigningConfigArn=red)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Message"] == (
        f"User: arn:aws:iam::{world['account']}:user/csc-blue is not authorized to perform: "
        f"lambda:GetCodeSigningConfig on resource: {red} because no identity-based policy allows the "
        "lambda:GetCodeSigningConfig action")
    for call, kwargs in ((lam.update_code_signing_config, {"CodeSigningConfigArn": red, "Description": "x"}),
                         (lam.delete_code_signing_config, {"CodeSigningConfigArn": red}),
                         (lam.list_tags, {"Resource": red}), (lam.tag_resource, {"Resource": red, "Tags": {"a": "b"}})):
        assert refusal(call, **kwargs)["Error"]["Code"] == "AccessDeniedException"
    # Retagging changes the next decision: red becomes the user's, blue stops being so.
    admin_lam.tag_resource(Resource=red, Tags={"team": "blue"})
    assert lam.list_tags(Resource=red)["Tags"] == {"team": "blue"}
    lam.tag_resource(Resource=blue, Tags={"team": "gone"})  # allowed on the tags it had
    assert refusal(lam.get_code_signing_config, CodeSigningConfigArn=blue)["Error"]["Code"] == "AccessDeniedException"
    lam.delete_code_signing_config(CodeSigningConfigArn=red)
    admin_lam.delete_code_signing_config(CodeSigningConfigArn=blue)


def test_the_tags_create_code_signing_config_sets_decide_it(admin, world):
    lam = user(admin, "csc-creator", {"Effect": "Allow", "Action": "lambda:CreateCodeSigningConfig", "Resource": "*",
                                      "Condition": {"StringEquals": {"aws:RequestTag/env": "dev"},
                                                    "ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}}
               ).client("lambda")
    for tags in ({}, {"Tags": {"env": "prod"}}, {"Tags": {"env": "dev", "team": "x"}}):
        response = refusal(lam.create_code_signing_config, AllowedPublishers=PUBLISHERS, **tags)
        assert response["Error"]["Message"] == (
            f"User: arn:aws:iam::{world['account']}:user/csc-creator is not authorized to perform: "
            "lambda:CreateCodeSigningConfig on resource: * because no identity-based policy allows the "
            "lambda:CreateCodeSigningConfig action")
    arn = lam.create_code_signing_config(AllowedPublishers=PUBLISHERS, Tags={"env": "dev"})[
        "CodeSigningConfig"]["CodeSigningConfigArn"]
    assert admin.client("lambda").list_tags(Resource=arn)["Tags"] == {"env": "dev"}
    admin.client("lambda").delete_code_signing_config(CodeSigningConfigArn=arn)
