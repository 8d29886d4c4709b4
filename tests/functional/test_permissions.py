"""Resource-based policies through boto3 against a real server with auth off: AddPermission,
GetPolicy, RemovePermission and the layer-version forms are stored and answered as on AWS."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, ROLE, make_zip

ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
LAYER = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer"


def fresh(lam, name: str) -> None:
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def error(call, **kwargs):
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response


def test_add_get_remove_permission(lam):
    fresh(lam, "perm")
    before = lam.get_function(FunctionName="perm")["Configuration"]["RevisionId"]
    added = lam.add_permission(FunctionName="perm", StatementId="s3", Action="lambda:InvokeFunction",
                               Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::my-bucket",
                               SourceAccount=ACCOUNT)
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"]) == {
        "Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": f"{ARN}:perm",
        "Condition": {"StringEquals": {"AWS:SourceAccount": ACCOUNT},
                      "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"}}}
    lam.add_permission(FunctionName="perm", StatementId="acct", Action="lambda:GetFunction",
                       Principal="111122223333")
    lam.add_permission(FunctionName="perm", StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName="perm", StatementId="user", Action="lambda:*",
                       Principal="arn:aws:iam::111122223333:user/bob", PrincipalOrgID="o-abcdefghij")
    got = lam.get_policy(FunctionName="perm")
    policy = json.loads(got["Policy"])
    assert policy["Version"] == "2012-10-17" and policy["Id"] == "default"
    assert [s["Sid"] for s in policy["Statement"]] == ["s3", "acct", "url", "user"]
    assert policy["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert policy["Statement"][2]["Principal"] == "*"
    assert policy["Statement"][2]["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
    assert policy["Statement"][3]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}
    after = lam.get_function(FunctionName="perm")["Configuration"]["RevisionId"]
    assert got["RevisionId"] == after != before  # a policy change is a new revision of the function

    conflict = error(lam.add_permission, FunctionName="perm", StatementId="s3", Action="lambda:InvokeFunction",
                     Principal="events.amazonaws.com")
    assert conflict["Error"]["Code"] == "ResourceConflictException"
    assert conflict["Error"]["Message"] == ("The statement id (s3) provided already exists. Please provide a new "
                                            "statement id, or remove the existing statement.")
    stale = error(lam.add_permission, FunctionName="perm", StatementId="x", Action="lambda:InvokeFunction",
                  Principal="events.amazonaws.com", RevisionId=before)
    assert stale["Error"]["Code"] == "PreconditionFailedException"
    assert stale["ResponseMetadata"]["HTTPStatusCode"] == 412
    bad = error(lam.add_permission, FunctionName="perm", StatementId="x", Action="lambda:InvokeFunction",
                Principal="not-a-principal")
    assert bad["Error"]["Code"] == "InvalidParameterValueException"

    assert lam.remove_permission(FunctionName="perm", StatementId="acct", RevisionId=after)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    missing = error(lam.remove_permission, FunctionName="perm", StatementId="acct")
    assert missing["Error"]["Code"] == "ResourceNotFoundException"
    assert missing["Error"]["Message"] == "Statement acct is not found in resource policy."
    for sid in ("s3", "url", "user"):
        lam.remove_permission(FunctionName="perm", StatementId=sid)
    gone = error(lam.get_policy, FunctionName="perm")
    assert gone["Error"]["Code"] == "ResourceNotFoundException"
    assert gone["Error"]["Message"] == "The resource you requested does not exist."


def test_qualified_policies_and_their_deletion(lam):
    fresh(lam, "permq")
    version = lam.publish_version(FunctionName="permq")["Version"]
    lam.create_alias(FunctionName="permq", Name="live", FunctionVersion=version)
    latest = error(lam.add_permission, FunctionName="permq", StatementId="x", Action="lambda:InvokeFunction",
                   Principal="events.amazonaws.com", Qualifier="$LATEST")
    assert latest["Error"]["Message"] == "We currently do not support adding policies for $LATEST."
    lam.add_permission(FunctionName="permq", StatementId="v", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", Qualifier=version)
    lam.add_permission(FunctionName="permq:live", StatementId="a", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com")
    assert json.loads(lam.get_policy(FunctionName="permq", Qualifier=version)["Policy"])["Statement"][0][
        "Resource"] == f"{ARN}:permq:{version}"
    alias_policy = lam.get_policy(FunctionName="permq", Qualifier="live")
    assert json.loads(alias_policy["Policy"])["Statement"][0]["Resource"] == f"{ARN}:permq:live"
    assert alias_policy["RevisionId"] == lam.get_alias(FunctionName="permq", Name="live")["RevisionId"]
    assert error(lam.get_policy, FunctionName="permq")["Error"]["Code"] == "ResourceNotFoundException"
    unknown = error(lam.add_permission, FunctionName="permq", StatementId="x", Action="lambda:InvokeFunction",
                    Principal="events.amazonaws.com", Qualifier="nope")
    assert unknown["Error"]["Code"] == "ResourceNotFoundException"

    lam.delete_alias(FunctionName="permq", Name="live")
    lam.create_alias(FunctionName="permq", Name="live", FunctionVersion=version)
    assert error(lam.get_policy, FunctionName="permq", Qualifier="live")["Error"]["Code"] == \
        "ResourceNotFoundException"  # deleted with the alias
    lam.delete_function(FunctionName="permq")
    fresh(lam, "permq")
    lam.publish_version(FunctionName="permq")
    assert error(lam.get_policy, FunctionName="permq", Qualifier="1")["Error"]["Code"] == \
        "ResourceNotFoundException"  # deleted with the function


def test_policy_size_limit(lam):
    fresh(lam, "permbig")
    long_arn = "arn:aws:s3:::" + "b" * 9000
    for n in range(2):
        lam.add_permission(FunctionName="permbig", StatementId=f"s{n}", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com", SourceArn=long_arn)
    too_big = error(lam.add_permission, FunctionName="permbig", StatementId="s2", Action="lambda:InvokeFunction",
                    Principal="s3.amazonaws.com", SourceArn=long_arn)
    assert too_big["Error"]["Code"] == "PolicyLengthExceededException"
    assert too_big["Error"]["Message"].startswith("The final policy size (")
    assert too_big["Error"]["Message"].endswith(") is bigger than the limit (20480).")
    assert len(json.loads(lam.get_policy(FunctionName="permbig")["Policy"])["Statement"]) == 2


def test_unknown_function(lam):
    missing = error(lam.get_policy, FunctionName="nope")
    assert missing["Error"]["Code"] == "ResourceNotFoundException"
    assert missing["Error"]["Message"] == f"Function not found: {ARN}:nope"


def test_layer_version_permissions(lam):
    lam.publish_layer_version(LayerName="shared", Content={"ZipFile": make_zip({"python/x.py": "X = 1\n"})})
    added = lam.add_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="xaccount",
                                             Action="lambda:GetLayerVersion", Principal="111122223333")
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"]) == {
        "Sid": "xaccount", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "lambda:GetLayerVersion", "Resource": f"{LAYER}:shared:1"}
    org = lam.add_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="org",
                                           Action="lambda:GetLayerVersion", Principal="*",
                                           OrganizationId="o-abcdefghij", RevisionId=added["RevisionId"])
    assert json.loads(org["Statement"])["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}
    got = lam.get_layer_version_policy(LayerName="shared", VersionNumber=1)
    assert got["RevisionId"] == org["RevisionId"]
    assert [s["Sid"] for s in json.loads(got["Policy"])["Statement"]] == ["xaccount", "org"]
    stale = error(lam.remove_layer_version_permission, LayerName="shared", VersionNumber=1, StatementId="org",
                  RevisionId=added["RevisionId"])
    assert stale["Error"]["Code"] == "PreconditionFailedException"
    lam.remove_layer_version_permission(LayerName="shared", VersionNumber=1, StatementId="org")
    dup = error(lam.add_layer_version_permission, LayerName="shared", VersionNumber=1, StatementId="xaccount",
                Action="lambda:GetLayerVersion", Principal="*")
    assert dup["Error"]["Code"] == "ResourceConflictException"
    assert error(lam.get_layer_version_policy, LayerName="shared", VersionNumber=9)["Error"]["Code"] == \
        "ResourceNotFoundException"
    lam.delete_layer_version(LayerName="shared", VersionNumber=1)
    assert error(lam.get_layer_version_policy, LayerName="shared", VersionNumber=1)["Error"]["Code"] == \
        "ResourceNotFoundException"


def test_policy_survives_a_restart(lamina, lam):
    fresh(lam, "permr")
    lam.add_permission(FunctionName="permr", StatementId="e", Action="lambda:InvokeFunction",
                       Principal="events.amazonaws.com", SourceArn=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/r")
    lamina.stop()
    lamina.start()
    statement = json.loads(lam.get_policy(FunctionName="permr")["Policy"])["Statement"][0]
    assert statement["Condition"] == {"ArnLike": {"AWS:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/r"}}
