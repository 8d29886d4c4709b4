"""Authorization with `--auth sigv4`, through boto3 with keys lamina issued: identity policies allow
and deny, an explicit Deny wins, conditions on aws:SourceIp and aws:CurrentTime apply, a resource
policy grants a user directly, and every protocol answers a denial with AWS's AccessDenied.

Cross-account callers and service principals cannot be made here (lamina serves one account and
no trigger service on this branch): tests/unit/authz covers them at the evaluator level."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from support import LAMBDA_TRUST as TRUST
from support import REGION, Keys, make_zip, policy

READ_ONLY = "arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess"




@pytest.fixture(scope="module")
def world(signed, admin):
    """A function made by the admin, and the account id."""
    iam, lam = admin.client("iam"), admin.client("lambda")
    role = iam.create_role(RoleName="lambda-ex", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    lam.create_function(FunctionName="target", Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 'hi'\n"})})
    lam.get_waiter("function_active_v2").wait(FunctionName="target")
    account = admin.client("sts").get_caller_identity()["Account"]
    return {"account": account, "arn": f"arn:aws:lambda:{REGION}:{account}:function:target"}


def user(admin: Keys, name: str, *, attach: tuple[str, ...] = (), inline: dict[str, str] | None = None) -> Keys:
    iam = admin.client("iam")
    iam.create_user(UserName=name)
    for arn in attach:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    for policy_name, document in (inline or {}).items():
        iam.put_user_policy(UserName=name, PolicyName=policy_name, PolicyDocument=document)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Keys(admin.url, key["AccessKeyId"], key["SecretAccessKey"])


def denied(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response


def test_read_only_user_reads_but_may_not_invoke(admin, world):
    reader = user(admin, "reader", attach=(READ_ONLY,))
    lam = reader.client("lambda")
    assert "target" in [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert lam.get_function(FunctionName="target")["Configuration"]["FunctionName"] == "target"
    response = denied(lam.invoke, FunctionName="target", Payload=b"{}")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert response["Error"]["Message"] == (
        f"User: arn:aws:iam::{world['account']}:user/reader is not authorized to perform: lambda:InvokeFunction on "
        f"resource: {world['arn']} because no identity-based policy allows the lambda:InvokeFunction action")
    deleting = denied(lam.delete_function, FunctionName="target")
    assert deleting["Error"]["Message"].endswith(
        f"lambda:DeleteFunction on resource: {world['arn']} because no identity-based policy allows the "
        "lambda:DeleteFunction action")


def test_a_policy_change_applies_at_once(admin, world):
    caller = user(admin, "invoker")
    lam = caller.client("lambda")
    assert denied(lam.invoke, FunctionName="target", Payload=b"{}")["Error"]["Code"] == "AccessDeniedException"
    admin.client("iam").attach_user_policy(UserName="invoker",
                                           PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaRole")
    assert json.loads(lam.invoke(FunctionName="target", Payload=b"{}")["Payload"].read()) == "hi"
    admin.client("iam").put_user_policy(UserName="invoker", PolicyName="no-invoke", PolicyDocument=policy(
        {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": world["arn"]}))
    response = denied(lam.invoke, FunctionName="target", Payload=b"{}")
    assert response["Error"]["Message"] == (
        f"User: arn:aws:iam::{world['account']}:user/invoker is not authorized to perform: lambda:InvokeFunction "
        f"on resource: {world['arn']} with an explicit deny in an identity-based policy")
    admin.client("iam").delete_user_policy(UserName="invoker", PolicyName="no-invoke")
    assert lam.invoke(FunctionName="target", Payload=b"{}")["StatusCode"] == 200


def test_source_ip_condition(admin, world):
    anywhere = user(admin, "ip-elsewhere", inline={"p": policy({
        "Effect": "Allow", "Action": "lambda:GetFunction", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})})
    here = user(admin, "ip-here", inline={"p": policy({
        "Effect": "Allow", "Action": "lambda:GetFunction", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}})})
    assert denied(anywhere.client("lambda").get_function, FunctionName="target")["Error"]["Code"] == \
        "AccessDeniedException"
    assert here.client("lambda").get_function(FunctionName="target")["Configuration"]["FunctionName"] == "target"


def test_current_time_condition(admin, world):
    expired = user(admin, "expired", inline={"p": policy({
        "Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*",
        "Condition": {"DateLessThan": {"aws:CurrentTime": "2001-01-01T00:00:00Z"}}})})
    current = user(admin, "current", inline={"p": policy({
        "Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*",
        "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2001-01-01T00:00:00Z"},
                      "DateLessThanEquals": {"aws:CurrentTime": "2999-01-01T00:00:00Z"}}})})
    response = denied(expired.client("lambda").list_functions)
    assert response["Error"]["Message"] == (
        f"User: arn:aws:iam::{world['account']}:user/expired is not authorized to perform: lambda:ListFunctions on "
        "resource: * because no identity-based policy allows the lambda:ListFunctions action")
    assert current.client("lambda").list_functions()["Functions"]


def test_resource_policy_grants_a_user_of_the_account(admin, world):
    nobody = user(admin, "nobody")
    lam = nobody.client("lambda")
    assert denied(lam.invoke, FunctionName="target", Payload=b"{}")["Error"]["Code"] == "AccessDeniedException"
    owner = admin.client("lambda")
    owner.add_permission(FunctionName="target", StatementId="nobody", Action="lambda:InvokeFunction",
                         Principal=f"arn:aws:iam::{world['account']}:user/nobody")
    assert lam.invoke(FunctionName="target", Payload=b"{}")["StatusCode"] == 200
    assert denied(lam.get_function, FunctionName="target")["Error"]["Code"] == "AccessDeniedException"
    # a grant to the account only delegates to identity policies: nobody has none
    owner.add_permission(FunctionName="target", StatementId="account", Action="lambda:GetFunction",
                         Principal=world["account"])
    assert denied(lam.get_function, FunctionName="target")["Error"]["Code"] == "AccessDeniedException"
    owner.remove_permission(FunctionName="target", StatementId="nobody")
    assert denied(lam.invoke, FunctionName="target", Payload=b"{}")["Error"]["Code"] == "AccessDeniedException"


def test_a_version_policy_applies_to_that_version(admin, world):
    stranger = user(admin, "stranger")
    lam = stranger.client("lambda")
    owner = admin.client("lambda")
    version = owner.publish_version(FunctionName="target")["Version"]
    owner.add_permission(FunctionName="target", Qualifier=version, StatementId="stranger",
                         Action="lambda:InvokeFunction", Principal=f"arn:aws:iam::{world['account']}:user/stranger")
    assert lam.invoke(FunctionName="target", Qualifier=version, Payload=b"{}")["StatusCode"] == 200
    response = denied(lam.invoke, FunctionName="target", Payload=b"{}")
    assert response["Error"]["Message"].endswith(
        f"on resource: {world['arn']} because no identity-based policy allows the lambda:InvokeFunction action")


def test_other_protocols_answer_access_denied(admin, world):
    reader = user(admin, "reader2", attach=(READ_ONLY,))
    logs = denied(reader.client("logs").create_log_group, logGroupName="/aws/lambda/x")
    assert logs["Error"]["Code"] == "AccessDeniedException"
    assert logs["Error"]["Message"] == (
        f"User: arn:aws:iam::{world['account']}:user/reader2 is not authorized to perform: logs:CreateLogGroup on "
        f"resource: arn:aws:logs:{REGION}:{world['account']}:log-group:/aws/lambda/x:log-stream: because no "
        "identity-based policy allows the logs:CreateLogGroup action")
    iam = denied(reader.client("iam").create_user, UserName="mallory")
    assert iam["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert iam["Error"]["Code"] == "AccessDenied"
    assert iam["Error"]["Message"] == (
        f"User: arn:aws:iam::{world['account']}:user/reader2 is not authorized to perform: iam:CreateUser on "
        f"resource: arn:aws:iam::{world['account']}:user/mallory because no identity-based policy allows the "
        "iam:CreateUser action")
    assert reader.client("iam").get_role(RoleName="lambda-ex")["Role"]["RoleName"] == "lambda-ex"  # read-only
    assert reader.client("sts").get_caller_identity()["Arn"] == f"arn:aws:iam::{world['account']}:user/reader2"


CHAIN = """
import boto3
from botocore.exceptions import ClientError


def handler(event, context):
    try:
        out = boto3.client("lambda").invoke(FunctionName="target", Payload=b"{}")
        return {"ok": out["Payload"].read().decode()}
    except ClientError as error:
        return {"code": error.response["Error"]["Code"], "message": error.response["Error"]["Message"]}
"""


def test_execution_role_credentials_are_authorized_by_the_role(admin, world):
    iam, lam = admin.client("iam"), admin.client("lambda")
    role = iam.create_role(RoleName="chain-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    lam.create_function(FunctionName="chain", Runtime="python3.12", Role=role, Handler="app.handler", Timeout=30,
                        Code={"ZipFile": make_zip({"app.py": CHAIN})})
    lam.get_waiter("function_active_v2").wait(FunctionName="chain")
    first = json.loads(lam.invoke(FunctionName="chain", Payload=b"{}")["Payload"].read())
    assert first == {"code": "AccessDeniedException", "message": (
        f"User: arn:aws:sts::{world['account']}:assumed-role/chain-role/chain is not authorized to perform: "
        f"lambda:InvokeFunction on resource: {world['arn']} because no identity-based policy allows the "
        "lambda:InvokeFunction action")}
    iam.attach_role_policy(RoleName="chain-role", PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaRole")
    second = json.loads(lam.invoke(FunctionName="chain", Payload=b"{}")["Payload"].read())
    assert second == {"ok": '"hi"'}  # without redeploying


def test_iam_refuses_a_policy_the_evaluator_could_not_apply(admin, world):
    iam = admin.client("iam")
    iam.create_user(UserName="odd")
    response = denied(iam.put_user_policy, UserName="odd", PolicyName="p", PolicyDocument=policy({
        "Effect": "Deny", "Action": "lambda:*", "Resource": "*", "Condition": {"StringSorta": {"aws:username": "x"}}}))
    assert response["Error"]["Code"] == "MalformedPolicyDocument"
    assert response["Error"]["Message"] == "Syntax errors in policy."


def test_trust_policy_conditions_are_evaluated(admin, world):
    iam, sts = admin.client("iam"), admin.client("sts")
    me = sts.get_caller_identity()["Arn"]

    def trust(cidrs):
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": me}, "Action": "sts:AssumeRole",
            "Condition": {"IpAddress": {"aws:SourceIp": cidrs}}}]})

    near = iam.create_role(RoleName="near", AssumeRolePolicyDocument=trust(["127.0.0.0/8", "::1/128"]))["Role"]["Arn"]
    far = iam.create_role(RoleName="far", AssumeRolePolicyDocument=trust(["10.0.0.0/8"]))["Role"]["Arn"]
    assert sts.assume_role(RoleArn=near, RoleSessionName="ss")["AssumedRoleUser"]["Arn"].endswith(
        ":assumed-role/near/ss")
    response = denied(sts.assume_role, RoleArn=far, RoleSessionName="ss")
    assert response["Error"]["Code"] == "AccessDenied"
    assert response["Error"]["Message"] == f"User: {me} is not authorized to perform: sts:AssumeRole on resource: {far}"


def test_an_event_invoke_is_authorized_as_a_synchronous_one(signed, admin, world):
    """An Event invoke of a cached target is accepted at once (the lane), after the same identity
    and authorization steps as every other request."""
    assert admin.client("lambda").invoke(FunctionName="target", Payload=b"{}")["StatusCode"] == 200  # cached now
    taken = signed.health()["counts"]["eventLaneAccepts"]
    reader = user(admin, "event-reader", attach=(READ_ONLY,))
    response = denied(reader.client("lambda").invoke, FunctionName="target", InvocationType="Event", Payload=b"{}")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Message"] == (
        f"User: arn:aws:iam::{world['account']}:user/event-reader is not authorized to perform: "
        f"lambda:InvokeFunction on resource: {world['arn']} because no identity-based policy allows the "
        "lambda:InvokeFunction action")
    caller = user(admin, "event-invoker", attach=("arn:aws:iam::aws:policy/service-role/AWSLambdaRole",))
    accepted = caller.client("lambda").invoke(FunctionName="target", InvocationType="Event", Payload=b"{}")
    assert accepted["StatusCode"] == 202
    assert signed.health()["counts"]["eventLaneAccepts"] == taken + 1  # the denied one was not accepted
