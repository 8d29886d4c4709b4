"""iam:PassRole: which calls hand a role to a service, and the decision on passing it (asked after
the call's own action, with iam:PassedToService and iam:AssociatedResourceArn in the context)."""

import json

import pytest

from lamina.authz import actions
from lamina.authz.authorizer import Authorizer
from lamina.authz.evaluate import EXPLICIT_DENY_IDENTITY, NO_IDENTITY_ALLOW, NO_RESOURCE_ALLOW
from lamina.managed_policies import MANAGED_POLICIES

R, A = "us-east-1", "123456789012"
FN = f"arn:aws:lambda:{R}:{A}:function:f"
RULE = f"arn:aws:events:{R}:{A}:rule/r"
ME = f"arn:aws:iam::{A}:user/alice"
ROLE = f"arn:aws:iam::{A}:role/exec"
OTHER_ROLE = f"arn:aws:iam::{A}:role/admin-role"
LAMBDA, EVENTS = "lambda.amazonaws.com", "events.amazonaws.com"


@pytest.mark.parametrize("service, operation, params, passed", [
    ("lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, [(ROLE, LAMBDA, FN)]),
    ("lambda", "CreateFunction", {"FunctionName": FN, "Role": ROLE}, [(ROLE, LAMBDA, FN)]),
    ("lambda", "UpdateFunctionConfiguration", {"FunctionName": "f", "Role": ROLE}, [(ROLE, LAMBDA, FN)]),
    ("lambda", "UpdateFunctionConfiguration", {"FunctionName": "f", "MemorySize": 256}, []),  # no Role: nothing passed
    ("lambda", "UpdateFunctionCode", {"FunctionName": "f", "Role": ROLE}, []),  # not a member of that call
    ("lambda", "CreateEventSourceMapping", {"FunctionName": "f"}, []),  # mappings use the function's role
    ("events", "PutRule", {"Name": "r", "RoleArn": ROLE}, [(ROLE, EVENTS, RULE)]),
    ("events", "PutRule", {"Name": "r"}, []),
    ("events", "PutTargets", {"Rule": "r", "Targets": [
        {"Id": "1", "Arn": FN, "RoleArn": ROLE}, {"Id": "2", "Arn": FN}, {"Id": "3", "Arn": FN, "RoleArn": ROLE},
        {"Id": "4", "Arn": FN, "RoleArn": OTHER_ROLE}]}, [(ROLE, EVENTS, RULE), (OTHER_ROLE, EVENTS, RULE)]),
    ("events", "PutTargets", {"Rule": "r", "EventBusName": "b", "Targets": [{"Id": "1", "Arn": FN, "RoleArn": ROLE}]},
     [(ROLE, EVENTS, f"arn:aws:events:{R}:{A}:rule/b/r")]),
    ("iam", "CreateRole", {"RoleName": "exec"}, []),
])
def test_passed_roles(service, operation, params, passed):
    found = actions.passed_roles(service, operation, params, region=R, account=A)
    assert [tuple(p) for p in found] == passed


class Caller:
    def __init__(self, arn=ME, account=A, source_ip="127.0.0.1"):
        self.principal_arn, self.account_id, self.source_ip = arn, account, source_ip


def statement(**fields) -> dict:
    return {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*", **fields}


CREATE = {"Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:UpdateFunctionConfiguration",
                                        "events:PutRule", "events:PutTargets"], "Resource": "*"}
CASES = [
    # (the statements beside CREATE, service, operation, params, the reason of the denial or None)
    ([], "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, NO_IDENTITY_ALLOW),
    ([statement()], "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, None),
    ([statement(Resource=ROLE)], "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, None),
    ([statement(Resource=ROLE)], "lambda", "CreateFunction", {"FunctionName": "f", "Role": OTHER_ROLE},
     NO_IDENTITY_ALLOW),
    ([statement(Resource=f"arn:aws:iam::{A}:role/ex*")], "lambda", "UpdateFunctionConfiguration",
     {"FunctionName": "f", "Role": ROLE}, None),
    ([statement(Condition={"StringEquals": {"iam:PassedToService": LAMBDA}})],
     "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, None),
    ([statement(Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})],
     "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, NO_IDENTITY_ALLOW),
    ([statement(Condition={"StringLike": {"iam:PassedToService": "lambda.*"}})],
     "lambda", "UpdateFunctionConfiguration", {"FunctionName": "f", "Role": ROLE}, None),
    ([statement(Condition={"ArnLike": {"iam:AssociatedResourceARN": f"arn:aws:lambda:*:{A}:function:f*"}})],
     "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, None),
    ([statement(Condition={"ArnLike": {"iam:AssociatedResourceARN": f"arn:aws:lambda:*:{A}:function:g*"}})],
     "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, NO_IDENTITY_ALLOW),
    ([statement(Condition={"StringEquals": {"aws:username": "alice"}})],  # the request's global keys apply
     "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, None),
    ([statement(), {"Effect": "Deny", "Action": "iam:PassRole", "Resource": OTHER_ROLE}],
     "lambda", "CreateFunction", {"FunctionName": "f", "Role": OTHER_ROLE}, EXPLICIT_DENY_IDENTITY),
    ([statement(Condition={"StringEquals": {"iam:PassedToService": LAMBDA}})],
     "events", "PutRule", {"Name": "r", "RoleArn": ROLE}, NO_IDENTITY_ALLOW),
    ([statement(Condition={"StringEquals": {"iam:PassedToService": EVENTS},
                           "ArnEquals": {"iam:AssociatedResourceArn": RULE}})],
     "events", "PutTargets", {"Rule": "r", "Targets": [{"Id": "1", "Arn": FN, "RoleArn": ROLE}]}, None),
    ([statement(Resource=ROLE)], "events", "PutTargets",
     {"Rule": "r", "Targets": [{"Id": "1", "Arn": FN, "RoleArn": ROLE}, {"Id": "2", "Arn": FN, "RoleArn": OTHER_ROLE}]},
     NO_IDENTITY_ALLOW),  # every role passed must be allowed
    ([], "lambda", "UpdateFunctionConfiguration", {"FunctionName": "f", "MemorySize": 256}, None),  # no role passed
    ([statement()], "lambda", "CreateFunction", {"FunctionName": "f", "Role": "arn:aws:iam::999999999999:role/x"},
     NO_RESOURCE_ALLOW),  # a role of another account cannot be passed
]


@pytest.mark.parametrize("extra, service, operation, params, reason", CASES)
def test_pass_role_decision(extra, service, operation, params, reason):
    policy = {"Version": "2012-10-17", "Statement": [CREATE, *extra]}
    auth = Authorizer(region=R, account_id=A, identity_policies=lambda caller: [json.dumps(policy)])
    denial = auth.check(Caller(), service, operation, params)
    if reason is None:
        assert denial is None
        return
    role = params.get("Role") or params.get("RoleArn") or params["Targets"][-1]["RoleArn"]
    assert (denial.action, denial.resource, denial.reason) == ("iam:PassRole", role, reason)


def test_the_calls_own_action_is_asked_first_and_its_denial_is_the_answer():
    policy = {"Version": "2012-10-17", "Statement": [statement()]}  # may pass roles, may not create
    auth = Authorizer(region=R, account_id=A, identity_policies=lambda caller: [policy])
    denial = auth.check(Caller(), "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE})
    assert (denial.action, denial.resource) == ("lambda:CreateFunction", FN)


def test_denial_text_is_awss():
    auth = Authorizer(region=R, account_id=A, identity_policies=lambda caller: [{"Version": "2012-10-17",
                                                                                  "Statement": [CREATE]}])
    denial = auth.check(Caller(), "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE})
    assert denial.message == (f"User: {ME} is not authorized to perform: iam:PassRole on resource: {ROLE} "
                              "because no identity-based policy allows the iam:PassRole action")
    session = Caller(f"arn:aws:sts::{A}:assumed-role/deployer/ci")
    denial = auth.check(session, "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE})
    assert denial.message.startswith(f"User: arn:aws:sts::{A}:assumed-role/deployer/ci is not authorized to "
                                     f"perform: iam:PassRole on resource: {ROLE}")


@pytest.mark.parametrize("policies, service, operation, params, allowed", [
    # AWSLambda_FullAccess passes any role, but only to Lambda
    (["AWSLambda_FullAccess"], "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, True),
    (["AWSLambda_FullAccess"], "lambda", "UpdateFunctionConfiguration", {"FunctionName": "f", "Role": ROLE}, True),
    (["AWSLambda_FullAccess", "AmazonEventBridgeFullAccess"], "events", "PutRule",
     {"Name": "r", "RoleArn": ROLE}, True),  # EventBridge's full access passes roles to events.amazonaws.com
    (["AWSLambda_FullAccess"], "events", "PutRule", {"Name": "r", "RoleArn": ROLE}, False),
    (["AmazonEventBridgeFullAccess"], "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, False),
    (["AWSLambda_ReadOnlyAccess"], "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, False),
    (["AdministratorAccess"], "lambda", "CreateFunction", {"FunctionName": "f", "Role": ROLE}, True),
    (["IAMFullAccess", "AWSLambda_ReadOnlyAccess"], "lambda", "CreateFunction",
     {"FunctionName": "f", "Role": ROLE}, False),  # may pass the role, may not create the function
])
def test_managed_policies_pass_roles_as_on_aws(policies, service, operation, params, allowed):
    documents = [MANAGED_POLICIES[name]["Document"] for name in policies]
    auth = Authorizer(region=R, account_id=A, identity_policies=lambda caller: documents)
    assert (auth.check(Caller(), service, operation, params) is None) is allowed


def test_root_and_auth_off_pass_any_role():
    params = {"FunctionName": "f", "Role": ROLE}
    assert Authorizer(region=R, account_id=A).check(Caller(f"arn:aws:iam::{A}:root"), "lambda", "CreateFunction",
                                                    params) is None
    assert Authorizer(region=R, account_id=A, enforcing=False).check(Caller(), "lambda", "CreateFunction",
                                                                     params) is None
