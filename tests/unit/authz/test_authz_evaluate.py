"""AWS's evaluation logic: explicit deny > allow > implicit deny, identity and resource policies
combined as within one account, and both sides required across accounts."""

import pytest

from lamina.authz.denial import message
from lamina.authz.document import parse_policy
from lamina.authz.evaluate import (
    ALLOWED,
    EXPLICIT_DENY_IDENTITY,
    EXPLICIT_DENY_RESOURCE,
    NO_IDENTITY_ALLOW,
    NO_RESOURCE_ALLOW,
    Principal,
    Request,
    evaluate,
)

A, B = "123456789012", "111122223333"
FN = f"arn:aws:lambda:us-east-1:{A}:function:my-fn"
FN1 = f"{FN}:1"
ALICE = Principal(f"arn:aws:iam::{A}:user/alice", A)
ROOT = Principal(f"arn:aws:iam::{A}:root", A)
SESSION = Principal(f"arn:aws:sts::{A}:assumed-role/exec/my-fn", A, role_arn=f"arn:aws:iam::{A}:role/exec")
BOB = Principal(f"arn:aws:iam::{B}:user/bob", B)
B_ROOT = Principal(f"arn:aws:iam::{B}:root", B)
EVENTS = Principal("events.amazonaws.com", None, service="events.amazonaws.com")
S3 = Principal("s3.amazonaws.com", None, service="s3.amazonaws.com")
ANON = Principal("anonymous", None)


def identity(*statements, version="2012-10-17"):
    return parse_policy({"Version": version, "Statement": list(statements)}, "identity")


def resource(*statements):
    return parse_policy({"Version": "2012-10-17", "Id": "default", "Statement": list(statements)}, "resource")


def allow(action="lambda:InvokeFunction", res="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": res, **extra}


def deny(action="lambda:InvokeFunction", res="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": res, **extra}


def grant(principal, action="lambda:InvokeFunction", res=FN, effect="Allow", **extra):
    return {"Effect": effect, "Principal": principal, "Action": action, "Resource": res, **extra}


FULL_ACCESS = identity(allow("lambda:*"))
READ_ONLY = identity(allow(["lambda:Get*", "lambda:List*"]))
LAMBDA_ROLE = identity(allow("lambda:InvokeFunction"))

CASES = [
    # (name, principal, action, resource, context, identity policies, resource policy, expected reason)
    ("nothing at all", ALICE, "lambda:InvokeFunction", FN, {}, [], None, NO_IDENTITY_ALLOW),
    ("full access", ALICE, "lambda:InvokeFunction", FN, {}, [FULL_ACCESS], None, ALLOWED),
    ("read-only allows get", ALICE, "lambda:GetFunction", FN, {}, [READ_ONLY], None, ALLOWED),
    ("read-only refuses invoke", ALICE, "lambda:InvokeFunction", FN, {}, [READ_ONLY], None, NO_IDENTITY_ALLOW),
    ("action case-insensitive", ALICE, "lambda:InvokeFunction", FN, {}, [identity(allow("LAMBDA:invokefunction"))],
     None, ALLOWED),
    ("action question mark", ALICE, "lambda:GetAlias", FN, {}, [identity(allow("lambda:Get?lias"))], None, ALLOWED),
    ("deny beats allow", ALICE, "lambda:InvokeFunction", FN, {}, [FULL_ACCESS, identity(deny())], None,
     EXPLICIT_DENY_IDENTITY),
    ("deny in the same policy", ALICE, "lambda:DeleteFunction", FN, {},
     [identity(allow("lambda:*"), deny("lambda:Delete*"))], None, EXPLICIT_DENY_IDENTITY),
    ("deny of another action", ALICE, "lambda:GetFunction", FN, {},
     [identity(allow("lambda:*"), deny("lambda:Delete*"))], None, ALLOWED),
    ("resource names the function", ALICE, "lambda:InvokeFunction", FN, {}, [identity(allow(res=FN))], None,
     ALLOWED),
    ("resource names another function", ALICE, "lambda:InvokeFunction", FN, {},
     [identity(allow(res=FN + "-2"))], None, NO_IDENTITY_ALLOW),
    ("unqualified grant covers no version", ALICE, "lambda:InvokeFunction", FN1, {}, [identity(allow(res=FN))],
     None, NO_IDENTITY_ALLOW),
    ("trailing star covers versions", ALICE, "lambda:InvokeFunction", FN1, {}, [identity(allow(res=FN + "*"))],
     None, ALLOWED),
    ("colon star only qualified", ALICE, "lambda:InvokeFunction", FN, {}, [identity(allow(res=FN + ":*"))], None,
     NO_IDENTITY_ALLOW),
    ("NotAction allows the rest", ALICE, "lambda:GetFunction", FN, {}, [identity(
        {"Effect": "Allow", "NotAction": "lambda:Delete*", "Resource": "*"})], None, ALLOWED),
    ("NotAction excludes", ALICE, "lambda:DeleteFunction", FN, {}, [identity(
        {"Effect": "Allow", "NotAction": "lambda:Delete*", "Resource": "*"})], None, NO_IDENTITY_ALLOW),
    ("NotResource deny spares one", ALICE, "lambda:InvokeFunction", FN, {}, [FULL_ACCESS, identity(
        {"Effect": "Deny", "Action": "lambda:*", "NotResource": FN})], None, ALLOWED),
    ("NotResource deny hits others", ALICE, "lambda:InvokeFunction", FN + "-x", {}, [FULL_ACCESS, identity(
        {"Effect": "Deny", "Action": "lambda:*", "NotResource": FN})], None, EXPLICIT_DENY_IDENTITY),
    ("condition source ip in", ALICE, "lambda:InvokeFunction", FN, {"aws:sourceip": "127.0.0.1"},
     [identity(allow(Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}))], None, ALLOWED),
    ("condition source ip out", ALICE, "lambda:InvokeFunction", FN, {"aws:sourceip": "10.0.0.1"},
     [identity(allow(Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}))], None, NO_IDENTITY_ALLOW),
    ("deny outside ip range", ALICE, "lambda:InvokeFunction", FN, {"aws:sourceip": "10.0.0.1"},
     [FULL_ACCESS, identity(deny("*", Condition={"NotIpAddress": {"aws:SourceIp": "127.0.0.0/8"}}))], None,
     EXPLICIT_DENY_IDENTITY),
    ("time window closed", ALICE, "lambda:InvokeFunction", FN, {"aws:currenttime": "2030-01-01T00:00:00Z"},
     [identity(allow(Condition={"DateLessThan": {"aws:CurrentTime": "2029-01-01T00:00:00Z"}}))], None,
     NO_IDENTITY_ALLOW),
    ("time window open", ALICE, "lambda:InvokeFunction", FN, {"aws:currenttime": "2028-01-01T00:00:00Z"},
     [identity(allow(Condition={"DateLessThan": {"aws:CurrentTime": "2029-01-01T00:00:00Z"}}))], None, ALLOWED),
    ("username variable", ALICE, "iam:CreateAccessKey", f"arn:aws:iam::{A}:user/alice", {"aws:username": "alice"},
     [identity(allow("iam:*AccessKey*", "arn:aws:iam::*:user/${aws:username}"))], None, ALLOWED),
    ("username variable other user", ALICE, "iam:CreateAccessKey", f"arn:aws:iam::{A}:user/bob",
     {"aws:username": "alice"}, [identity(allow("iam:*AccessKey*", "arn:aws:iam::*:user/${aws:username}"))], None,
     NO_IDENTITY_ALLOW),
    ("variables are literal in 2008 documents", ALICE, "iam:CreateAccessKey", f"arn:aws:iam::{A}:user/alice",
     {"aws:username": "alice"}, [identity(allow("iam:*", "arn:aws:iam::*:user/${aws:username}"),
                                          version="2008-10-17")], None, NO_IDENTITY_ALLOW),
    ("missing variable matches nothing", ROOT, "iam:CreateAccessKey", f"arn:aws:iam::{A}:user/x", {},
     [identity(deny("iam:*", "arn:aws:iam::*:user/${aws:username}"))], None, ALLOWED),
    # examples from the IAM user guide
    ("deny outside regions (NotAction)", ALICE, "lambda:InvokeFunction", FN, {"aws:requestedregion": "us-west-2"},
     [FULL_ACCESS, identity({"Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*",
                             "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-central-1", "us-east-1"]}}})],
     None, EXPLICIT_DENY_IDENTITY),
    ("deny outside regions spares allowed ones", ALICE, "lambda:InvokeFunction", FN, {"aws:requestedregion": "us-east-1"},
     [FULL_ACCESS, identity({"Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*",
                             "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-central-1", "us-east-1"]}}})],
     None, ALLOWED),
    ("deny outside regions spares iam", ALICE, "iam:GetUser", f"arn:aws:iam::{A}:user/alice",
     {"aws:requestedregion": "us-west-2"},
     [identity(allow("iam:*")), identity({"Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*",
                                          "Condition": {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}}})],
     None, ALLOWED),
    ("require secure transport", ALICE, "lambda:GetFunction", FN, {"aws:securetransport": "false"},
     [FULL_ACCESS, identity(deny("*", Condition={"Bool": {"aws:SecureTransport": "false"}}))], None,
     EXPLICIT_DENY_IDENTITY),
    ("time-bounded access, inside", ALICE, "lambda:GetFunction", FN, {"aws:currenttime": "2020-06-15T12:00:00Z"},
     [identity(allow("lambda:*", Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
                                             "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}}))], None,
     ALLOWED),
    ("time-bounded access, after", ALICE, "lambda:GetFunction", FN, {"aws:currenttime": "2020-07-01T00:00:00Z"},
     [identity(allow("lambda:*", Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
                                             "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}}))], None,
     NO_IDENTITY_ALLOW),
    ("layers only from my account", ALICE, "lambda:CreateFunction", FN,
     {"lambda:layer": [f"arn:aws:lambda:us-east-1:{B}:layer:x:1"]},
     [identity(allow("lambda:CreateFunction", Condition={
         "ForAllValues:StringLike": {"lambda:Layer": [f"arn:aws:lambda:*:{A}:layer:*:*"]}}))], None, NO_IDENTITY_ALLOW),
    ("no layers at all passes ForAllValues", ALICE, "lambda:CreateFunction", FN, {},
     [identity(allow("lambda:CreateFunction", Condition={
         "ForAllValues:StringLike": {"lambda:Layer": [f"arn:aws:lambda:*:{A}:layer:*:*"]}}))], None, ALLOWED),
    ("permissions only to events", ALICE, "lambda:AddPermission", FN, {"lambda:principal": "s3.amazonaws.com"},
     [identity(allow(["lambda:AddPermission", "lambda:RemovePermission"], Condition={
         "StringEquals": {"lambda:Principal": "events.amazonaws.com"}}))], None, NO_IDENTITY_ALLOW),
    ("esm only for app functions", ALICE, "lambda:CreateEventSourceMapping", "*",
     {"lambda:functionarn": f"arn:aws:lambda:us-east-1:{A}:function:app-x"},
     [identity(allow("lambda:CreateEventSourceMapping", Condition={
         "ArnLike": {"lambda:FunctionArn": f"arn:aws:lambda:us-east-1:{A}:function:app-*"}}))], None, ALLOWED),
    ("own log groups by variable", SESSION, "logs:PutLogEvents",
     f"arn:aws:logs:us-east-1:{A}:log-group:/aws/lambda/my-fn:log-stream:s",
     {"aws:principalarn": SESSION.role_arn},
     [identity(allow("logs:*", f"arn:aws:logs:*:{A}:log-group:/aws/lambda/*"))], None, ALLOWED),
    # the account's root
    ("root has every permission", ROOT, "lambda:DeleteFunction", FN, {}, [], None, ALLOWED),
    # assumed-role sessions
    ("session by its role's policy", SESSION, "lambda:InvokeFunction", FN, {}, [LAMBDA_ROLE], None, ALLOWED),
    ("session without a grant", SESSION, "lambda:InvokeFunction", FN, {}, [], None, NO_IDENTITY_ALLOW),
    # resource policies within one account
    ("resource grant to the user", ALICE, "lambda:InvokeFunction", FN, {}, [],
     resource(grant({"AWS": ALICE.arn})), ALLOWED),
    ("resource grant to the role covers sessions", SESSION, "lambda:InvokeFunction", FN, {}, [],
     resource(grant({"AWS": SESSION.role_arn})), ALLOWED),
    ("resource grant to the role by its path", SESSION, "lambda:InvokeFunction", FN, {}, [],
     resource(grant({"AWS": f"arn:aws:iam::{A}:role/service-role/exec"})), ALLOWED),
    ("resource grant to another account's role of that name", SESSION, "lambda:InvokeFunction", FN, {}, [],
     resource(grant({"AWS": f"arn:aws:iam::{B}:role/exec"})), NO_IDENTITY_ALLOW),
    ("resource grant to the session", SESSION, "lambda:InvokeFunction", FN, {}, [],
     resource(grant({"AWS": SESSION.arn})), ALLOWED),
    ("resource grant to star", ALICE, "lambda:InvokeFunction", FN, {}, [], resource(grant("*")), ALLOWED),
    ("resource grant to AWS star", ALICE, "lambda:InvokeFunction", FN, {}, [], resource(grant({"AWS": "*"})),
     ALLOWED),
    ("account grant only delegates", ALICE, "lambda:InvokeFunction", FN, {}, [], resource(grant({"AWS": A})),
     NO_IDENTITY_ALLOW),
    ("account grant with identity allow", ALICE, "lambda:InvokeFunction", FN, {}, [LAMBDA_ROLE],
     resource(grant({"AWS": A})), ALLOWED),
    ("resource grant to someone else", ALICE, "lambda:InvokeFunction", FN, {}, [],
     resource(grant({"AWS": f"arn:aws:iam::{A}:user/carol"})), NO_IDENTITY_ALLOW),
    ("resource grant for another action", ALICE, "lambda:GetFunction", FN, {}, [],
     resource(grant({"AWS": ALICE.arn})), NO_IDENTITY_ALLOW),
    ("resource deny beats identity allow", ALICE, "lambda:InvokeFunction", FN, {}, [FULL_ACCESS],
     resource(grant({"AWS": ALICE.arn}, effect="Deny")), EXPLICIT_DENY_RESOURCE),
    ("resource deny to the account", ALICE, "lambda:InvokeFunction", FN, {}, [FULL_ACCESS],
     resource(grant({"AWS": f"arn:aws:iam::{A}:root"}, effect="Deny")), EXPLICIT_DENY_RESOURCE),
    ("NotPrincipal deny spares the named", ALICE, "lambda:InvokeFunction", FN, {}, [FULL_ACCESS],
     resource({"Effect": "Deny", "NotPrincipal": {"AWS": ALICE.arn}, "Action": "lambda:*", "Resource": FN}),
     ALLOWED),
    ("NotPrincipal deny hits the others", SESSION, "lambda:InvokeFunction", FN, {}, [FULL_ACCESS],
     resource({"Effect": "Deny", "NotPrincipal": {"AWS": ALICE.arn}, "Action": "lambda:*", "Resource": FN}),
     EXPLICIT_DENY_RESOURCE),
    ("resource grant with a failing condition", ALICE, "lambda:InvokeFunction", FN, {"aws:sourceip": "10.0.0.1"},
     [], resource(grant({"AWS": ALICE.arn}, Condition={"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}})),
     NO_IDENTITY_ALLOW),
    # another account's callers: both sides must allow
    ("cross-account, nothing", BOB, "lambda:InvokeFunction", FN, {}, [], None, NO_RESOURCE_ALLOW),
    ("cross-account, identity only", BOB, "lambda:InvokeFunction", FN, {}, [LAMBDA_ROLE], None, NO_RESOURCE_ALLOW),
    ("cross-account, resource only", BOB, "lambda:InvokeFunction", FN, {}, [],
     resource(grant({"AWS": f"arn:aws:iam::{B}:root"})), NO_IDENTITY_ALLOW),
    ("cross-account, both", BOB, "lambda:InvokeFunction", FN, {}, [LAMBDA_ROLE],
     resource(grant({"AWS": f"arn:aws:iam::{B}:root"})), ALLOWED),
    ("cross-account, account id principal", BOB, "lambda:InvokeFunction", FN, {}, [LAMBDA_ROLE],
     resource(grant({"AWS": B})), ALLOWED),
    ("cross-account, user principal", BOB, "lambda:InvokeFunction", FN, {}, [LAMBDA_ROLE],
     resource(grant({"AWS": BOB.arn})), ALLOWED),
    ("cross-account, another user named", BOB, "lambda:InvokeFunction", FN, {}, [LAMBDA_ROLE],
     resource(grant({"AWS": f"arn:aws:iam::{B}:user/eve"})), NO_RESOURCE_ALLOW),
    ("cross-account, the other root", B_ROOT, "lambda:InvokeFunction", FN, {}, [],
     resource(grant({"AWS": B})), ALLOWED),
    ("cross-account, grant on the version only", BOB, "lambda:InvokeFunction", FN, {}, [LAMBDA_ROLE],
     resource(grant({"AWS": B}, res=FN1)), NO_RESOURCE_ALLOW),
    ("cross-account, identity deny", BOB, "lambda:InvokeFunction", FN, {}, [identity(deny())],
     resource(grant({"AWS": B})), EXPLICIT_DENY_IDENTITY),
    # service principals: the resource policy alone decides
    ("service, no policy", EVENTS, "lambda:InvokeFunction", FN, {}, [], None, NO_RESOURCE_ALLOW),
    ("service granted", EVENTS, "lambda:InvokeFunction", FN, {}, [],
     resource(grant({"Service": "events.amazonaws.com"})), ALLOWED),
    ("another service granted", S3, "lambda:InvokeFunction", FN, {}, [],
     resource(grant({"Service": "events.amazonaws.com"})), NO_RESOURCE_ALLOW),
    ("service with source arn", S3, "lambda:InvokeFunction", FN, {"aws:sourcearn": "arn:aws:s3:::bucket",
                                                                   "aws:sourceaccount": A}, [],
     resource(grant({"Service": "s3.amazonaws.com"}, Condition={
         "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}, "StringEquals": {"AWS:SourceAccount": A}})), ALLOWED),
    ("service with another source arn", S3, "lambda:InvokeFunction", FN, {"aws:sourcearn": "arn:aws:s3:::other"},
     [], resource(grant({"Service": "s3.amazonaws.com"},
                        Condition={"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}})), NO_RESOURCE_ALLOW),
    ("service by star principal", EVENTS, "lambda:InvokeFunction", FN, {}, [], resource(grant("*")), ALLOWED),
    ("anonymous, no policy", ANON, "lambda:InvokeFunctionUrl", FN, {}, [], None, NO_RESOURCE_ALLOW),
    ("anonymous, public grant", ANON, "lambda:InvokeFunctionUrl", FN, {"lambda:functionurlauthtype": "NONE"}, [],
     resource(grant("*", "lambda:InvokeFunctionUrl",
                    Condition={"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}})), ALLOWED),
    ("anonymous, AWS star grant", ANON, "lambda:InvokeFunctionUrl", FN, {}, [],
     resource(grant({"AWS": "*"}, "lambda:InvokeFunctionUrl")), ALLOWED),
    ("anonymous, grant to an account", ANON, "lambda:InvokeFunctionUrl", FN, {}, [],
     resource(grant({"AWS": A}, "lambda:InvokeFunctionUrl")), NO_RESOURCE_ALLOW),
    ("anonymous, grant of another action", ANON, "lambda:InvokeFunctionUrl", FN, {}, [], resource(grant("*")),
     NO_RESOURCE_ALLOW),
    ("service not by an account grant", EVENTS, "lambda:InvokeFunction", FN, {}, [], resource(grant({"AWS": A})),
     NO_RESOURCE_ALLOW),
]


@pytest.mark.parametrize("name,principal,action,res,context,identities,resource_policy,expected", CASES,
                         ids=[c[0] for c in CASES])
def test_evaluate(name, principal, action, res, context, identities, resource_policy, expected):
    decision = evaluate(Request(principal, action, res, A, context), identities, resource_policy)
    assert decision.reason == expected
    assert decision.allowed is (expected == ALLOWED)


MESSAGES = [
    (NO_IDENTITY_ALLOW, "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: "
     "lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:123456789012:function:my-fn because no "
     "identity-based policy allows the lambda:InvokeFunction action"),
    (EXPLICIT_DENY_IDENTITY, "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: "
     "lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:123456789012:function:my-fn with an explicit "
     "deny in an identity-based policy"),
    (EXPLICIT_DENY_RESOURCE, "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: "
     "lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:123456789012:function:my-fn with an explicit "
     "deny in a resource-based policy"),
    (NO_RESOURCE_ALLOW, "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: "
     "lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:123456789012:function:my-fn because no "
     "resource-based policy allows the lambda:InvokeFunction action"),
]


@pytest.mark.parametrize("reason,text", MESSAGES)
def test_denial_messages(reason, text):
    assert message(ALICE.arn, "lambda:InvokeFunction", FN, reason) == text
