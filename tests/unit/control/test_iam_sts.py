"""IAM entities and STS sessions on a real SQLite store: AWS's errors, identity_policies, credentials."""

from __future__ import annotations

import json

import pytest

from lamina import managed_policies
from lamina.control.iam import ROLE, USER, Iam
from lamina.control.sts import Sts
from lamina.errors import AuthenticationError, IamError
from lamina.identity import ASSUMED_ROLE, Caller
from lamina.store.database import open_database
from lamina.store.iam import IamStore
from lamina.tokens import Tokens

ACCOUNT = "123456789012"
LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
ALLOW_LOGS = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*",
                                                                 "Resource": "*"}]})
BASIC = managed_policies.arn("AWSLambdaBasicExecutionRole")


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(db_url):
    clock = Clock()
    sts_box: list[Sts] = []
    iam = Iam(IamStore(open_database(db_url)), ACCOUNT, changed=lambda: sts_box[0].keys_changed())
    sts = Sts(iam, Tokens(b"m" * 32), ACCOUNT, clock=clock)
    sts_box.append(sts)
    return iam, sts, clock


def error(call) -> tuple[str, int, str]:
    with pytest.raises(IamError) as caught:
        call()
    return caught.value.code, caught.value.status, caught.value.message


def test_roles_and_their_errors(world):
    iam, _, _ = world
    role = iam.create_role({"RoleName": "lambda-ex", "AssumeRolePolicyDocument": LAMBDA_TRUST})["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/lambda-ex" and role["RoleId"].startswith("AROA")
    assert role["MaxSessionDuration"] == 3600 and len(role["RoleId"]) == 21
    pathed = iam.create_role({"RoleName": "p", "Path": "/svc/", "AssumeRolePolicyDocument": LAMBDA_TRUST})["Role"]
    assert pathed["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/svc/p"
    assert error(lambda: iam.create_role({"RoleName": "lambda-ex", "AssumeRolePolicyDocument": LAMBDA_TRUST})) == (
        "EntityAlreadyExists", 409, "Role with name lambda-ex already exists.")
    assert error(lambda: iam.get_role({"RoleName": "nope"})) == (
        "NoSuchEntity", 404, "The role with name nope cannot be found.")
    assert error(lambda: iam.create_role({"RoleName": "bad", "AssumeRolePolicyDocument": "{"})) == (
        "MalformedPolicyDocument", 400, "This policy contains invalid Json")
    iam.attach(ROLE, "lambda-ex", BASIC)
    iam.put_inline(ROLE, "lambda-ex", "logs", ALLOW_LOGS)
    assert error(lambda: iam.delete_role({"RoleName": "lambda-ex"})) == (
        "DeleteConflict", 409, "Cannot delete entity, must detach all policies first.")
    iam.detach(ROLE, "lambda-ex", BASIC)
    assert error(lambda: iam.delete_role({"RoleName": "lambda-ex"})) == (
        "DeleteConflict", 409, "Cannot delete entity, must delete policies first.")
    iam.delete_inline(ROLE, "lambda-ex", "logs")
    assert iam.delete_role({"RoleName": "lambda-ex"}) == {}
    assert [r["RoleName"] for r in iam.list_roles({})["Roles"]] == ["p"]


def test_a_trust_policy_may_name_only_users_and_roles_that_exist(world):
    iam, _, _ = world

    def trusting(*arns: str) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": list(arns)}, "Action": "sts:AssumeRole"}]})

    invalid = ("MalformedPolicyDocument", 400, f'Invalid principal in policy: "AWS":"arn:aws:iam::{ACCOUNT}:user/bob"')
    assert error(lambda: iam.create_role({"RoleName": "r", "AssumeRolePolicyDocument": trusting(
        ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/bob")})) == invalid
    assert error(lambda: iam.create_role({"RoleName": "self", "AssumeRolePolicyDocument": trusting(
        f"arn:aws:iam::{ACCOUNT}:role/self")}))[2] == (
        f'Invalid principal in policy: "AWS":"arn:aws:iam::{ACCOUNT}:role/self"')  # not made yet
    iam.create_user({"UserName": "bob", "Path": "/team/"})
    assert error(lambda: iam.create_role({"RoleName": "r", "AssumeRolePolicyDocument": trusting(
        f"arn:aws:iam::{ACCOUNT}:user/bob")}))[2] == (  # bob's ARN has his path
        f'Invalid principal in policy: "AWS":"arn:aws:iam::{ACCOUNT}:user/bob"')
    iam.create_role({"RoleName": "r", "AssumeRolePolicyDocument": trusting(
        f"arn:aws:iam::{ACCOUNT}:user/team/bob", "arn:aws:iam::111122223333:user/someone-else")})
    iam.update_assume_role_policy({"RoleName": "r", "PolicyDocument": trusting(f"arn:aws:iam::{ACCOUNT}:role/r")})
    assert error(lambda: iam.update_assume_role_policy({"RoleName": "r", "PolicyDocument": trusting(
        f"arn:aws:iam::{ACCOUNT}:role/gone")}))[2] == (
        f'Invalid principal in policy: "AWS":"arn:aws:iam::{ACCOUNT}:role/gone"')


def test_attachments_and_their_limits(world):
    iam, _, _ = world
    iam.create_role({"RoleName": "r", "AssumeRolePolicyDocument": LAMBDA_TRUST})
    missing = f"arn:aws:iam::{ACCOUNT}:policy/none"
    assert error(lambda: iam.attach(ROLE, "r", missing)) == (
        "NoSuchEntity", 404, f"Policy {missing} does not exist or is not attachable.")
    assert error(lambda: iam.detach(ROLE, "r", BASIC)) == ("NoSuchEntity", 404, f"Policy {BASIC} was not found.")
    arns = [managed_policies.arn(name) for name in managed_policies.MANAGED_POLICIES][:11]
    for arn in arns[:10]:
        iam.attach(ROLE, "r", arn)
    assert error(lambda: iam.attach(ROLE, "r", arns[10])) == (
        "LimitExceeded", 409, "Cannot exceed quota for PoliciesPerRole: 10")
    assert iam.get_policy({"PolicyArn": arns[0]})["Policy"]["AttachmentCount"] == 1


def test_customer_policies_with_versions(world):
    iam, _, _ = world
    policy = iam.create_policy({"PolicyName": "mine", "PolicyDocument": ALLOW_LOGS})["Policy"]
    arn = policy["Arn"]
    assert (arn, policy["DefaultVersionId"], policy["AttachmentCount"]) == (
        f"arn:aws:iam::{ACCOUNT}:policy/mine", "v1", 0)
    for _ in range(4):
        iam.create_policy_version({"PolicyArn": arn, "PolicyDocument": ALLOW_LOGS})
    assert error(lambda: iam.create_policy_version({"PolicyArn": arn, "PolicyDocument": ALLOW_LOGS}))[0] == \
        "LimitExceeded"
    assert error(lambda: iam.delete_policy({"PolicyArn": arn}))[0] == "DeleteConflict"
    assert error(lambda: iam.delete_policy_version({"PolicyArn": arn, "VersionId": "v1"})) == (
        "DeleteConflict", 409, "Cannot delete the default version of a policy.")
    iam.set_default_policy_version({"PolicyArn": arn, "VersionId": "v3"})
    assert iam.get_policy_version({"PolicyArn": arn, "VersionId": "v3"})["PolicyVersion"]["IsDefaultVersion"]
    for version in ("v1", "v2", "v4", "v5"):
        iam.delete_policy_version({"PolicyArn": arn, "VersionId": version})
    assert iam.delete_policy({"PolicyArn": arn}) == {}
    assert error(lambda: iam.delete_policy({"PolicyArn": BASIC}))[0] == "UnmodifiableEntity"


def test_managed_policies_are_served_with_their_documents(world):
    iam, _, _ = world
    version = iam.get_policy_version({"PolicyArn": BASIC, "VersionId": "v1"})["PolicyVersion"]
    statement = json.loads(version["Document"])["Statement"][0]
    assert sorted(statement["Action"]) == ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    names = {p["PolicyName"] for p in iam.list_policies({"Scope": "AWS", "MaxItems": 1000})["Policies"]}
    assert {"AWSLambdaBasicExecutionRole", "AWSLambda_FullAccess", "AWSLambda_ReadOnlyAccess", "AWSLambdaRole",
            "AWSLambdaSQSQueueExecutionRole", "AWSLambdaKinesisExecutionRole", "AWSLambdaDynamoDBExecutionRole",
            "AWSXRayDaemonWriteAccess"} <= names


def test_identity_policies_and_credentials_of_users_and_sessions(world):
    iam, sts, clock = world
    iam.create_user({"UserName": "bob"})
    iam.attach(USER, "bob", BASIC)
    iam.put_inline(USER, "bob", "logs", ALLOW_LOGS)
    key = iam.create_access_key("bob")["AccessKey"]
    identity = sts.credentials(key["AccessKeyId"], None)
    assert identity.secret == key["SecretAccessKey"]
    bob = identity.caller
    assert (bob.kind, bob.user_name, bob.principal_arn) == ("user", "bob", f"arn:aws:iam::{ACCOUNT}:user/bob")
    assert len(sts.identity_policies(bob)) == 2
    iam.update_access_key("bob", key["AccessKeyId"], "Inactive")
    with pytest.raises(AuthenticationError):  # an inactive key signs nothing
        sts.credentials(key["AccessKeyId"], None)
    iam.update_access_key("bob", key["AccessKeyId"], "Active")
    assert sts.credentials(key["AccessKeyId"], None).caller.user_name == "bob"
    assert error(lambda: iam.delete_user({"UserName": "bob"})) == (
        "DeleteConflict", 409, "Cannot delete entity, must delete access keys first.")
    iam.delete_access_key("bob", key["AccessKeyId"])
    with pytest.raises(AuthenticationError) as caught:  # the cache forgot the deleted key
        sts.credentials(key["AccessKeyId"], None)
    assert (caught.value.code, caught.value.query_code) == ("UnrecognizedClientException", "InvalidClientTokenId")

    iam.create_role({"RoleName": "ops", "AssumeRolePolicyDocument": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bob"}, "Action": "sts:AssumeRole"}]})})
    iam.attach(ROLE, "ops", managed_policies.arn("AWSLambdaRole"))
    assumed = sts.assume_role(bob, {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/ops", "RoleSessionName": "s1",
                                    "DurationSeconds": 900})
    creds = assumed["Credentials"]
    session = sts.credentials(creds["AccessKeyId"], creds["SessionToken"])
    assert session.secret == creds["SecretAccessKey"]
    assert (session.caller.kind, session.caller.role_arn) == (ASSUMED_ROLE, f"arn:aws:iam::{ACCOUNT}:role/ops")
    assert sts.identity_policies(session.caller) == [json.loads(
        iam.get_policy_version({"PolicyArn": managed_policies.arn("AWSLambdaRole"),
                                "VersionId": "v1"})["PolicyVersion"]["Document"])]
    assert sts.get_caller_identity(session.caller)["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ops/s1"
    clock.now += 901
    with pytest.raises(AuthenticationError) as caught:
        sts.credentials(creds["AccessKeyId"], creds["SessionToken"])
    assert (caught.value.code, caught.value.query_code, caught.value.message) == (
        "ExpiredTokenException", "ExpiredToken", "The security token included in the request is expired")


def test_assume_role_refusals(world):
    iam, sts, _ = world
    iam.create_role({"RoleName": "fn", "AssumeRolePolicyDocument": LAMBDA_TRUST, "MaxSessionDuration": 3600})
    admin = Caller(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/admin", "AKIA", authenticated=True, kind="user",
                   user_name="admin")
    arn = f"arn:aws:iam::{ACCOUNT}:role/fn"
    denied = ("AccessDenied", 403, f"User: arn:aws:iam::{ACCOUNT}:user/admin is not authorized to perform: "
              f"sts:AssumeRole on resource: {arn}")
    assert error(lambda: sts.assume_role(admin, {"RoleArn": arn, "RoleSessionName": "x1"})) == denied
    missing = f"arn:aws:iam::{ACCOUNT}:role/none"
    assert error(lambda: sts.assume_role(admin, {"RoleArn": missing, "RoleSessionName": "x1"}))[0] == "AccessDenied"
    anonymous = Caller(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root")  # auth off: the trust policy is not consulted
    assert error(lambda: sts.assume_role(anonymous, {"RoleArn": arn, "RoleSessionName": "x1",
                                                     "DurationSeconds": 7200})) == (
        "ValidationError", 400, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    assert sts.lambda_may_assume(arn) and not sts.lambda_may_assume(missing)
    assert not sts.lambda_may_assume("arn:aws:iam::999999999999:role/fn")


def test_execution_credentials_are_the_functions_session(world):
    iam, sts, clock = world
    iam.create_role({"RoleName": "fn", "AssumeRolePolicyDocument": LAMBDA_TRUST})
    key_id, secret, token = sts.execution_credentials(f"arn:aws:iam::{ACCOUNT}:role/fn", "myfunc", clock.now + 60)
    caller = sts.credentials(key_id, token).caller
    assert caller.principal_arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/fn/myfunc"
    assert sts.execution_credentials("not-an-arn", "myfunc", clock.now + 60) is None
