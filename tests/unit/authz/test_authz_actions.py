"""The operation → action and resource map, and the authorize step around the evaluator."""

import json

import pytest

from lamina.authz import actions
from lamina.authz.authorizer import Authorizer
from lamina.authz.evaluate import EXPLICIT_DENY_RESOURCE, NO_IDENTITY_ALLOW

R, A = "us-east-1", "123456789012"
FN = f"arn:aws:lambda:{R}:{A}:function:f"
ESM_ARN = f"arn:aws:lambda:{R}:{A}:event-source-mapping:0f0e0d0c-1b2a-4c3d-8e9f-a0b1c2d3e4f5"
ME = f"arn:aws:iam::{A}:user/alice"

TARGETS = [
    # (service, operation, params, action, resource)
    ("lambda", "Invoke", {"FunctionName": "f"}, "lambda:InvokeFunction", FN),
    ("lambda", "Invoke", {"FunctionName": "f", "Qualifier": "live"}, "lambda:InvokeFunction", FN + ":live"),
    ("lambda", "Invoke", {"FunctionName": "f:3"}, "lambda:InvokeFunction", FN + ":3"),
    ("lambda", "Invoke", {"FunctionName": FN + ":3"}, "lambda:InvokeFunction", FN + ":3"),
    ("lambda", "Invoke", {"FunctionName": f"{A}:function:f:prod"}, "lambda:InvokeFunction", FN + ":prod"),
    ("lambda", "InvokeAsync", {"FunctionName": "f"}, "lambda:InvokeFunction", FN),
    ("lambda", "AddPermission", {"FunctionName": "f", "Qualifier": "1"}, "lambda:AddPermission", FN + ":1"),
    ("lambda", "RemovePermission", {"FunctionName": "f"}, "lambda:RemovePermission", FN),
    ("lambda", "GetPolicy", {"FunctionName": "f", "Qualifier": "1"}, "lambda:GetPolicy", FN),
    ("lambda", "GetFunction", {"FunctionName": "f", "Qualifier": "1"}, "lambda:GetFunction", FN),
    ("lambda", "GetFunctionConfiguration", {"FunctionName": FN + ":1"}, "lambda:GetFunctionConfiguration", FN),
    ("lambda", "CreateFunction", {"FunctionName": "f"}, "lambda:CreateFunction", FN),
    ("lambda", "UpdateFunctionCode", {"FunctionName": "f"}, "lambda:UpdateFunctionCode", FN),
    ("lambda", "DeleteFunction", {"FunctionName": "f", "Qualifier": "2"}, "lambda:DeleteFunction", FN),
    ("lambda", "PublishVersion", {"FunctionName": "f"}, "lambda:PublishVersion", FN),
    ("lambda", "CreateAlias", {"FunctionName": "f", "Name": "live"}, "lambda:CreateAlias", FN),
    ("lambda", "GetProvisionedConcurrencyConfig", {"FunctionName": "f", "Qualifier": "live"},
     "lambda:GetProvisionedConcurrencyConfig", FN + ":live"),
    ("lambda", "ListProvisionedConcurrencyConfigs", {"FunctionName": "f"},
     "lambda:ListProvisionedConcurrencyConfigs", FN),
    ("lambda", "PutFunctionConcurrency", {"FunctionName": "f"}, "lambda:PutFunctionConcurrency", FN),
    ("lambda", "PutFunctionEventInvokeConfig", {"FunctionName": "f", "Qualifier": "1"},
     "lambda:PutFunctionEventInvokeConfig", FN),
    ("lambda", "ListTags", {"Resource": FN}, "lambda:ListTags", FN),
    ("lambda", "TagResource", {"Resource": FN}, "lambda:TagResource", FN),
    ("lambda", "UntagResource", {"Resource": ESM_ARN}, "lambda:UntagResource", ESM_ARN),  # a mapping's tags
    ("lambda", "ListFunctions", {}, "lambda:ListFunctions", "*"),
    ("lambda", "GetAccountSettings", {}, "lambda:GetAccountSettings", "*"),
    ("lambda", "ListLayers", {}, "lambda:ListLayers", "*"),
    ("lambda", "PublishLayerVersion", {"LayerName": "l"}, "lambda:PublishLayerVersion",
     f"arn:aws:lambda:{R}:{A}:layer:l"),
    ("lambda", "ListLayerVersions", {"LayerName": f"arn:aws:lambda:{R}:{A}:layer:l"}, "lambda:ListLayerVersions",
     f"arn:aws:lambda:{R}:{A}:layer:l"),
    ("lambda", "GetLayerVersion", {"LayerName": "l", "VersionNumber": 2}, "lambda:GetLayerVersion",
     f"arn:aws:lambda:{R}:{A}:layer:l:2"),
    ("lambda", "GetLayerVersionByArn", {"Arn": f"arn:aws:lambda:{R}:{A}:layer:l:2"}, "lambda:GetLayerVersion",
     f"arn:aws:lambda:{R}:{A}:layer:l:2"),
    ("lambda", "AddLayerVersionPermission", {"LayerName": "l", "VersionNumber": 2},
     "lambda:AddLayerVersionPermission", f"arn:aws:lambda:{R}:{A}:layer:l:2"),
    ("lambda", "GetLayerVersionPolicy", {"LayerName": "l", "VersionNumber": 2}, "lambda:GetLayerVersionPolicy",
     f"arn:aws:lambda:{R}:{A}:layer:l:2"),
    ("lambda", "DeleteLayerVersion", {"LayerName": "l", "VersionNumber": 2}, "lambda:DeleteLayerVersion",
     f"arn:aws:lambda:{R}:{A}:layer:l:2"),
    ("lambda", "CreateEventSourceMapping", {"FunctionName": "f"}, "lambda:CreateEventSourceMapping", "*"),
    ("lambda", "DeleteEventSourceMapping", {"UUID": "u-1"}, "lambda:DeleteEventSourceMapping",
     f"arn:aws:lambda:{R}:{A}:event-source-mapping:u-1"),
    ("lambda", "CreateFunctionUrlConfig", {"FunctionName": "f", "Qualifier": "live"},
     "lambda:CreateFunctionUrlConfig", FN + ":live"),
    ("logs", "CreateLogGroup", {"logGroupName": "/aws/lambda/f"}, "logs:CreateLogGroup",
     f"arn:aws:logs:{R}:{A}:log-group:/aws/lambda/f:log-stream:"),
    ("logs", "CreateLogStream", {"logGroupName": "/aws/lambda/f", "logStreamName": "s"}, "logs:CreateLogStream",
     f"arn:aws:logs:{R}:{A}:log-group:/aws/lambda/f:log-stream:s"),
    ("logs", "PutLogEvents", {"logGroupName": "g", "logStreamName": "s"}, "logs:PutLogEvents",
     f"arn:aws:logs:{R}:{A}:log-group:g:log-stream:s"),
    ("logs", "DescribeLogGroups", {}, "logs:DescribeLogGroups", f"arn:aws:logs:{R}:{A}:log-group::log-stream:"),
    ("logs", "FilterLogEvents", {"logGroupName": "g"}, "logs:FilterLogEvents",
     f"arn:aws:logs:{R}:{A}:log-group:g:log-stream:"),
    ("iam", "CreateRole", {"RoleName": "r"}, "iam:CreateRole", f"arn:aws:iam::{A}:role/r"),
    ("iam", "CreateRole", {"RoleName": "r", "Path": "/service-role/"}, "iam:CreateRole",
     f"arn:aws:iam::{A}:role/service-role/r"),
    ("iam", "AttachRolePolicy", {"RoleName": "r", "PolicyArn": "arn:aws:iam::aws:policy/x"}, "iam:AttachRolePolicy",
     f"arn:aws:iam::{A}:role/r"),
    ("iam", "GetUser", {}, "iam:GetUser", ME),
    ("iam", "ListAccessKeys", {"UserName": "bob"}, "iam:ListAccessKeys", f"arn:aws:iam::{A}:user/bob"),
    ("iam", "GetPolicy", {"PolicyArn": "arn:aws:iam::aws:policy/AWSLambda_FullAccess"}, "iam:GetPolicy",
     "arn:aws:iam::aws:policy/AWSLambda_FullAccess"),
    ("iam", "CreatePolicy", {"PolicyName": "p"}, "iam:CreatePolicy", f"arn:aws:iam::{A}:policy/p"),
    ("iam", "ListRoles", {}, "iam:ListRoles", "*"),
    ("sts", "AssumeRole", {"RoleArn": f"arn:aws:iam::{A}:role/r"}, "sts:AssumeRole", f"arn:aws:iam::{A}:role/r"),
    ("events", "PutRule", {"Name": "r"}, "events:PutRule", f"arn:aws:events:{R}:{A}:rule/r"),
    ("events", "PutTargets", {"Rule": "r", "EventBusName": "b"}, "events:PutTargets",
     f"arn:aws:events:{R}:{A}:rule/b/r"),
    ("events", "PutEvents", {"Entries": [{"Source": "x"}]}, "events:PutEvents",
     f"arn:aws:events:{R}:{A}:event-bus/default"),
    ("events", "ListRules", {}, "events:ListRules", "*"),
]


@pytest.mark.parametrize("service,operation,params,action,resource", TARGETS)
def test_targets(service, operation, params, action, resource):
    target = actions.target(service, operation, params, region=R, account=A, caller_arn=ME)
    assert (target.action, target.resource, target.known) == (action, resource, True)


def test_get_caller_identity_is_never_denied():
    assert actions.target("sts", "GetCallerIdentity", {}, region=R, account=A) is None


def test_unknown_operations_are_unknown():
    assert not actions.target("lambda", "MakeCoffee", {}, region=R, account=A).known
    assert not actions.target("nosuch", "Get", {}, region=R, account=A).known


def test_every_lambda_operation_lamina_serves_is_mapped():
    from lamina.api.app import HANDLERS

    assert sorted(set(HANDLERS) - set(actions.LAMBDA)) == []


# -- the authorize step ----------------------------------------------------------------------
class Caller:
    def __init__(self, arn, account=A, source_ip="127.0.0.1"):
        self.principal_arn, self.account_id, self.source_ip = arn, account, source_ip


ALLOW_INVOKE = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]})


def authorizer(policies, resource_policies=None, clock=lambda: 1_800_000_000.0):
    resource_policies = resource_policies or {}
    return Authorizer(region=R, account_id=A, identity_policies=lambda caller: policies.get(caller.principal_arn, []),
                      resource_policy=resource_policies.get, clock=clock)


def test_root_is_allowed_everything():
    auth = authorizer({})
    assert auth.check(Caller(f"arn:aws:iam::{A}:root"), "lambda", "DeleteFunction", {"FunctionName": "f"}) is None
    assert auth.check(Caller(f"arn:aws:iam::{A}:root"), "lambda", "MakeCoffee", {}) is None


def test_user_denied_then_allowed_after_a_policy_change():
    policies = {ME: []}
    auth = authorizer(policies)
    denied = auth.check(Caller(ME), "lambda", "Invoke", {"FunctionName": "f"})
    assert denied.reason == NO_IDENTITY_ALLOW
    assert denied.message == (f"User: {ME} is not authorized to perform: lambda:InvokeFunction on resource: {FN} "
                              "because no identity-based policy allows the lambda:InvokeFunction action")
    policies[ME] = [ALLOW_INVOKE]  # no decision is cached
    assert auth.check(Caller(ME), "lambda", "Invoke", {"FunctionName": "f"}) is None
    policies[ME] = []
    assert auth.check(Caller(ME), "lambda", "Invoke", {"FunctionName": "f"}) is not None


def test_unknown_operation_denied_to_users():
    denied = authorizer({ME: [ALLOW_INVOKE]}).check(Caller(ME), "lambda", "MakeCoffee", {})
    assert denied.action == "lambda:MakeCoffee" and denied.resource == "*"


def test_source_ip_and_time_conditions():
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "lambda:*", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"},
                      "DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}}]})
    now = [1_700_000_000.0]  # 2023
    auth = authorizer({ME: [policy]}, clock=lambda: now[0])
    assert auth.check(Caller(ME), "lambda", "ListFunctions", {}) is None
    assert auth.check(Caller(ME, source_ip="10.1.1.1"), "lambda", "ListFunctions", {}) is not None
    now[0] = 1_900_000_000.0  # 2030
    assert auth.check(Caller(ME), "lambda", "ListFunctions", {}) is not None


def test_resource_policy_revision_is_honoured():
    grant = {"Version": "2012-10-17", "Id": "default", "Statement": [{
        "Sid": "s", "Effect": "Allow", "Principal": {"AWS": ME}, "Action": "lambda:InvokeFunction", "Resource": FN}]}
    stored = {FN: ("r1", json.dumps(grant))}
    auth = authorizer({ME: []}, stored)
    assert auth.check(Caller(ME), "lambda", "Invoke", {"FunctionName": "f"}) is None
    stored[FN] = ("r2", json.dumps({**grant, "Statement": [{**grant["Statement"][0], "Effect": "Deny"}]}))
    denied = auth.check(Caller(ME), "lambda", "Invoke", {"FunctionName": "f"})
    assert denied.reason == EXPLICIT_DENY_RESOURCE


def test_assumed_role_session_matches_its_role():
    session = f"arn:aws:sts::{A}:assumed-role/exec/f"
    grant = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:role/exec"}, "Action": "lambda:InvokeFunction",
        "Resource": FN}]}
    auth = authorizer({}, {FN: ("r", json.dumps(grant))})
    assert auth.check(Caller(session), "lambda", "Invoke", {"FunctionName": "f"}) is None
    assert auth.check(Caller(session), "lambda", "Invoke", {"FunctionName": "g"}) is not None


def test_username_variable_from_the_caller():
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "iam:*AccessKey*", "Resource": "arn:aws:iam::*:user/${aws:username}"}]})
    auth = authorizer({ME: [policy]})
    assert auth.check(Caller(ME), "iam", "ListAccessKeys", {}) is None
    assert auth.check(Caller(ME), "iam", "ListAccessKeys", {"UserName": "alice"}) is None
    assert auth.check(Caller(ME), "iam", "ListAccessKeys", {"UserName": "bob"}) is not None


def test_may_invoke_for_service_principals():
    grant = {"Version": "2012-10-17", "Statement": [{
        "Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": FN,
        "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}}}]}
    auth = authorizer({}, {FN: ("r", grant)})
    assert auth.may_invoke("s3.amazonaws.com", FN, "arn:aws:s3:::bucket", A)
    assert not auth.may_invoke("s3.amazonaws.com", FN, "arn:aws:s3:::other", A)
    assert not auth.may_invoke("events.amazonaws.com", FN, "arn:aws:s3:::bucket", A)
    assert not auth.may_invoke("s3.amazonaws.com", FN + "-other", "arn:aws:s3:::bucket", A)


def test_lambda_condition_keys():
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "lambda:AddPermission", "Resource": "*",
        "Condition": {"StringEquals": {"lambda:Principal": "events.amazonaws.com"}}}, {
        "Effect": "Allow", "Action": "lambda:CreateFunction", "Resource": "*",
        "Condition": {"ForAllValues:StringLike": {"lambda:Layer": f"arn:aws:lambda:*:{A}:layer:*"}}}]})
    auth = authorizer({ME: [policy]})
    assert auth.check(Caller(ME), "lambda", "AddPermission",
                      {"FunctionName": "f", "Principal": "events.amazonaws.com"}) is None
    assert auth.check(Caller(ME), "lambda", "AddPermission",
                      {"FunctionName": "f", "Principal": "s3.amazonaws.com"}) is not None
    assert auth.check(Caller(ME), "lambda", "CreateFunction",
                      {"FunctionName": "f", "Layers": [f"arn:aws:lambda:{R}:{A}:layer:l:1"]}) is None
    assert auth.check(Caller(ME), "lambda", "CreateFunction",
                      {"FunctionName": "f", "Layers": [f"arn:aws:lambda:{R}:999999999999:layer:l:1"]}) is not None


def test_identity_policies_read_once_per_iam_revision():
    reads, revision, policies = [], [1], {ME: []}

    def identity_policies(caller):
        reads.append(caller.principal_arn)
        return policies[caller.principal_arn]

    auth = Authorizer(region=R, account_id=A, identity_policies=identity_policies,
                      identity_revision=lambda: revision[0])
    for _ in range(3):
        assert auth.check(Caller(ME), "lambda", "Invoke", {"FunctionName": "f"}) is not None
    assert len(reads) == 1
    policies[ME] = [ALLOW_INVOKE]
    revision[0] = 2  # IAM changed: the next check reads the policies again
    assert auth.check(Caller(ME), "lambda", "Invoke", {"FunctionName": "f"}) is None
    assert len(reads) == 2


def test_assume_role_weighs_the_trust_policy():
    role = f"arn:aws:iam::{A}:role/operator"
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ME}, "Action": "sts:AssumeRole"}]})
    auth = authorizer({}, {role: ("iam-1", trust)})
    assert auth.check(Caller(ME), "sts", "AssumeRole", {"RoleArn": role}) is None  # trusted by name
    mallory = f"arn:aws:iam::{A}:user/mallory"
    denied = auth.check(Caller(mallory), "sts", "AssumeRole", {"RoleArn": role})
    assert denied.message == f"User: {mallory} is not authorized to perform: sts:AssumeRole on resource: {role}"


def test_a_policy_the_evaluator_cannot_read_fails_closed():
    unreadable = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "lambda:*", "Resource": "*", "Condition": {"StringSorta": {"a": "b"}}}]})
    denied = authorizer({ME: [ALLOW_INVOKE, unreadable]}).check(Caller(ME), "lambda", "Invoke", {"FunctionName": "f"})
    assert denied is not None and denied.reason == "explicit deny in an identity-based policy"


def test_conditions_hold_for_trust_policies():
    auth = authorizer({})
    assert auth.conditions_hold(Caller(ME), "sts", "AssumeRole", {}, {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})
    assert not auth.conditions_hold(Caller(ME, source_ip="10.0.0.1"), "sts", "AssumeRole", {},
                                    {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})
    assert auth.conditions_hold(Caller(ME), "sts", "AssumeRole", {},
                                {"StringEquals": {"aws:PrincipalArn": ME, "aws:username": "alice"}})
    assert not auth.conditions_hold(Caller(ME), "sts", "AssumeRole", {}, {"NoSuchOperator": {"a": "b"}})


@pytest.mark.parametrize("statement, context, allowed", [
    ({"Principal": "*", "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}},
     {"lambda:functionurlauthtype": "NONE"}, True),
    ({"Principal": {"AWS": "*"}, "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}},
     {"lambda:functionurlauthtype": "NONE"}, True),
    ({"Principal": "*", "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}},
     {"lambda:functionurlauthtype": "AWS_IAM"}, False),  # the condition does not hold
    ({"Principal": {"AWS": A}}, {"lambda:functionurlauthtype": "NONE"}, False),  # the account, not anyone
    ({"Principal": {"AWS": ME}}, {"lambda:functionurlauthtype": "NONE"}, False),  # a user, not anyone
    ({"Principal": {"Service": "s3.amazonaws.com"}}, {}, False),  # a service, not anyone
    (None, {"lambda:functionurlauthtype": "NONE"}, False),  # no resource policy
])
def test_allows_anyone_only_with_a_public_grant(statement, context, allowed):
    resources = {}
    if statement is not None:
        resources[FN] = ("r", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "lambda:InvokeFunctionUrl", "Resource": FN, **statement}]})
    assert authorizer({}, resources).allows_anyone("lambda:InvokeFunctionUrl", FN, context) is allowed


def test_allows_anyone_explicit_deny_wins_and_not_enforcing_allows():
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Resource": FN},
        {"Effect": "Deny", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Resource": FN,
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}
    auth = authorizer({}, {FN: ("r", document)})
    assert auth.allows_anyone("lambda:InvokeFunctionUrl", FN, {"aws:sourceip": "127.0.0.1"})
    assert not auth.allows_anyone("lambda:InvokeFunctionUrl", FN, {"aws:sourceip": "10.1.2.3"})
    assert Authorizer(region=R, account_id=A, enforcing=False).allows_anyone("lambda:InvokeFunctionUrl", FN)


@pytest.mark.parametrize("operation, params, action, resource", [
    ("StartSigningJob", {"profileName": "me"}, "signer:StartSigningJob", f"arn:aws:signer:{R}:{A}:/signing-profiles/me"),
    ("PutSigningProfile", {"profileName": "me"}, "signer:PutSigningProfile",
     f"arn:aws:signer:{R}:{A}:/signing-profiles/me"),
    ("RevokeSigningProfile", {"profileName": "x"}, "signer:RevokeSigningProfile",
     f"arn:aws:signer:{R}:{A}:/signing-profiles/x"),
    ("ListSigningProfiles", {}, "signer:ListSigningProfiles", "*"),
])
def test_signer_actions(operation, params, action, resource):
    assert actions.target("signer", operation, params, region=R, account=A) == actions.Target(action, resource)


@pytest.mark.parametrize("service, operation, params, action, resource", [
    ("cloudwatch", "GetMetricData", {}, "cloudwatch:GetMetricData", "*"),
    ("cloudformation", "ListStacks", {}, "cloudformation:ListStacks", "*"),
    ("cloudformation", "UpdateStack", {"StackName": "app"}, "cloudformation:UpdateStack",
     f"arn:aws:cloudformation:{R}:{A}:stack/app/*"),
    ("schemas", "UpdateSchema", {"FunctionName": "f"}, "schemas:UpdateSchema",
     f"arn:aws:schemas:{R}:{A}:schema/lambda-testevent-schemas/_f-schema"),
    ("schemas", "DescribeSchema", {"FunctionName": FN}, "schemas:DescribeSchema",
     f"arn:aws:schemas:{R}:{A}:schema/lambda-testevent-schemas/_f-schema"),
])
def test_actions_of_lamina_endpoints(service, operation, params, action, resource):
    assert actions.target(service, operation, params, region=R, account=A) == actions.Target(action, resource)


def test_a_stack_grant_by_name_matches_lamina_stacks():
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "cloudformation:DescribeStacks",
        "Resource": f"arn:aws:cloudformation:{R}:{A}:stack/app/*"}]})
    auth = authorizer({ME: [policy]})
    assert auth.check(Caller(ME), "cloudformation", "DescribeStacks", {"StackName": "app"}) is None
    assert auth.check(Caller(ME), "cloudformation", "DescribeStacks", {"StackName": "other"}) is not None


def test_role_allows_reads_the_roles_identity_policies():
    session = Caller(f"arn:aws:sts::{A}:assumed-role/reader/lamina-event-source")
    queue = f"arn:aws:sqs:{R}:{A}:jobs"
    sqs_read = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"], "Resource": queue},
        {"Effect": "Deny", "Action": "sqs:DeleteMessage", "Resource": "*"}]})
    auth = authorizer({session.principal_arn: [sqs_read]})
    assert auth.role_allows(session, "sqs:ReceiveMessage", queue)
    assert not auth.role_allows(session, "sqs:ReceiveMessage", f"arn:aws:sqs:{R}:{A}:other")
    assert not auth.role_allows(session, "sqs:DeleteMessage", queue)  # the explicit Deny wins
    assert not auth.role_allows(session, "sqs:GetQueueAttributes", queue)
    assert not authorizer({}).role_allows(session, "sqs:ReceiveMessage", queue)
    assert Authorizer(region=R, account_id=A, enforcing=False).role_allows(session, "sqs:ReceiveMessage", queue)
