"""Authentication (`lamina serve --auth sigv4`), IAM and STS through boto3 and the aws CLI, and
execution-role credentials inside functions."""

from __future__ import annotations

import configparser
import datetime
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, TEST_AUTH, LaminaProcess, free_port, keys_for, make_zip

TRUST_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS Secret "
            "Access Key and signing method. Consult the service documentation for details.")
INVALID_TOKEN = "The security token included in the request is invalid."
WHOAMI = '''
import os

def handler(event, context):
    import boto3
    identity = boto3.client("sts").get_caller_identity()
    return {"arn": identity["Arn"], "key": os.environ["AWS_ACCESS_KEY_ID"],
            "token": bool(os.environ.get("AWS_SESSION_TOKEN")), "secret": len(os.environ["AWS_SECRET_ACCESS_KEY"])}
'''


def admin_key(data_dir: Path) -> tuple[str, str]:
    profile = configparser.ConfigParser()
    profile.read(data_dir / "credentials")
    return profile["lamina"]["aws_access_key_id"], profile["lamina"]["aws_secret_access_key"]


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    server = LaminaProcess(tmp_path_factory.mktemp("auth") / "data", env={"LAMINA_AUTH": "sigv4"}).start()
    yield server
    server.stop()


def client(server, service, key=None, secret=None, token=None):
    if key is None:
        key, secret = admin_key(server.data_dir)
    return boto3.client(service, endpoint_url=server.url, region_name=REGION, aws_access_key_id=key,
                        aws_secret_access_key=secret, aws_session_token=token,
                        config=Config(retries={"max_attempts": 0}, read_timeout=120))


def error_of(call) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"], error["Error"]["Message"]


def cli(server, tmp_path, *args, key=None, secret=None):
    """The real aws CLI against `server` with the given (default: administrator) key."""
    executable = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    assert executable, "the aws CLI is installed with the dev dependencies (awscli)"
    if key is None:
        key, secret = admin_key(server.data_dir)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": REGION,
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_MAX_ATTEMPTS": "1"}
    env.pop("AWS_SESSION_TOKEN", None)
    out = subprocess.run([executable, "--endpoint-url", server.url, "--output", "json", *args], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=120)
    return out.returncode, json.loads(out.stdout) if out.stdout.strip() else None, out.stderr


def seed_role_commands(server, tmp_path, name="lambda-ex", **keys):
    """The seed's commands, verbatim: a trust-policy.json file, create-role, attach-role-policy."""
    (tmp_path / "trust-policy.json").write_text(json.dumps(TRUST_POLICY))
    code, created, err = cli(server, tmp_path, "iam", "create-role", "--role-name", name,
                             "--assume-role-policy-document", "file://trust-policy.json", **keys)
    assert code == 0, err
    code, _, err = cli(server, tmp_path, "iam", "attach-role-policy", "--role-name", name, "--policy-arn",
                       "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", **keys)
    assert code == 0, err
    return created["Role"]


# -- with auth off (the default fixture) ----------------------------------------------------------

def test_seed_role_commands_run_verbatim_with_auth_off(lamina, tmp_path):
    key, secret = keys_for(lamina.url)  # any key with auth off (the admin's under LAMINA_TEST_AUTH)
    role = seed_role_commands(lamina, tmp_path, key=key, secret=secret)
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/lambda-ex"
    assert role["AssumeRolePolicyDocument"] == TRUST_POLICY
    iam = client(lamina, "iam", key, secret)
    assert iam.list_attached_role_policies(RoleName="lambda-ex")["AttachedPolicies"] == [
        {"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC}]
    caller = f"arn:aws:iam::{ACCOUNT}:user/admin" if TEST_AUTH else f"arn:aws:iam::{ACCOUNT}:root"
    assert client(lamina, "sts", key, secret).get_caller_identity()["Arn"] == caller


# -- with auth on -------------------------------------------------------------------------------

def test_the_admin_key_is_kept_owner_readable_and_printed_once(secured):
    path = secured.data_dir / "credentials"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (secured.data_dir / "lamina.db").stat().st_mode & 0o777 == 0o600
    key, secret = admin_key(secured.data_dir)
    assert key.startswith("AKIA") and len(key) == 20 and len(secret) == 40
    assert secured.output.read_text().count(secret) == 1  # the banner, once
    assert secret not in json.dumps(secured.health())
    assert secured.health()["auth"] == {"mode": "sigv4"}
    printed = subprocess.run([sys.executable, "-m", "lamina.cli", "credentials", "--data-dir", str(secured.data_dir)],
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0
    assert printed.stdout.startswith(f"[lamina]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")


def test_the_admin_is_an_iam_user(secured):
    identity = client(secured, "sts").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/admin" and identity["UserId"].startswith("AIDA")


def test_seed_role_commands_and_a_function_with_execution_role_credentials(secured, tmp_path):
    role = seed_role_commands(secured, tmp_path)
    lam = client(secured, "lambda")
    lam.create_function(FunctionName="whoami", Runtime="python3.12", Role=role["Arn"], Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": WHOAMI})}, Timeout=30)
    lam.get_waiter("function_active_v2").wait(FunctionName="whoami")
    response = lam.invoke(FunctionName="whoami")
    result = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, result
    # The function's own calls to lamina are the assumed-role session named after the function.
    assert result == {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/lambda-ex/whoami",
                      "key": result["key"], "token": True, "secret": 40}
    assert result["key"].startswith("ASIA")


def test_create_function_refuses_a_role_lambda_cannot_assume(secured):
    iam = client(secured, "iam")
    iam.create_role(RoleName="not-for-lambda", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    lam = client(secured, "lambda")
    for role in (f"arn:aws:iam::{ACCOUNT}:role/not-for-lambda", f"arn:aws:iam::{ACCOUNT}:role/missing"):
        status, code, message = error_of(lambda r=role: lam.create_function(
            FunctionName="refused", Runtime="python3.12", Role=r, Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": WHOAMI})}))
        assert (status, code, message) == (400, "InvalidParameterValueException",
                                           "The role defined for the function cannot be assumed by Lambda.")


def test_assume_role_credentials_work_everywhere_a_key_does(secured):
    iam = client(secured, "iam")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/admin"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName="operator", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.attach_role_policy(RoleName="operator", PolicyArn="arn:aws:iam::aws:policy/AWSLambda_ReadOnlyAccess")
    assumed = client(secured, "sts").assume_role(RoleArn=arn, RoleSessionName="alice", DurationSeconds=900)
    creds = assumed["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"]
    assert 890 <= (creds["Expiration"] - datetime.datetime.now(datetime.UTC)).total_seconds() <= 905
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/operator/alice"
    keys = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert client(secured, "sts", *keys).get_caller_identity()["Arn"] == assumed["AssumedRoleUser"]["Arn"]
    assert isinstance(client(secured, "lambda", *keys).list_functions()["Functions"], list)
    assert isinstance(client(secured, "logs", *keys).describe_log_groups()["logGroups"], list)
    # An altered session token is not one lamina issued.
    forged = client(secured, "lambda", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"] + "x")
    assert error_of(forged.list_functions) == (403, "UnrecognizedClientException", INVALID_TOKEN)
    # The trust policy decides who may assume the role.
    other = iam.create_user(UserName="mallory")["User"]["UserName"]
    key = iam.create_access_key(UserName=other)["AccessKey"]
    status, code, message = error_of(lambda: client(secured, "sts", key["AccessKeyId"], key["SecretAccessKey"])
                                     .assume_role(RoleArn=arn, RoleSessionName="mm"))
    assert (status, code, message) == (403, "AccessDenied", f"User: arn:aws:iam::{ACCOUNT}:user/mallory is not "
                                       f"authorized to perform: sts:AssumeRole on resource: {arn}")


# -- refused requests, per protocol ---------------------------------------------------------------

CALLS = {
    "lambda": ("GET", "/2015-03-31/functions/", b"", {}),
    "logs": ("POST", "/", b"{}", {"X-Amz-Target": "Logs_20140328.DescribeLogGroups",
                                  "Content-Type": "application/x-amz-json-1.1"}),
    "iam": ("POST", "/", b"Action=ListRoles&Version=2010-05-08",
            {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}),
}
CODES = {  # kind -> (lambda/logs code, query code, status)
    "unsigned": ("MissingAuthenticationTokenException", "MissingAuthenticationToken", 403),
    "wrong-secret": ("InvalidSignatureException", "SignatureDoesNotMatch", 403),
    "unknown-key": ("UnrecognizedClientException", "InvalidClientTokenId", 403),
    "tampered": ("InvalidSignatureException", "SignatureDoesNotMatch", 403),
    "expired": ("InvalidSignatureException", "SignatureDoesNotMatch", 403),
}


def send(server, service, kind):
    method, path, body, headers = CALLS[service]
    key, secret = admin_key(server.data_dir)
    if kind == "wrong-secret":
        secret = "x" * 40
    elif kind == "unknown-key":
        key = "AKIAUNKNOWNUNKNOWN00"
    request = AWSRequest(method=method, url=server.url + path, data=body, headers=headers)
    if kind != "unsigned":
        skew = datetime.timedelta(minutes=20 if kind == "expired" else 0)
        real = botocore.auth.datetime.datetime

        class Past(real):
            @classmethod
            def utcnow(cls):
                return real.utcnow() - skew

            @classmethod
            def now(cls, tz=None):
                return real.now(tz) - skew

        botocore.auth.datetime.datetime = Past
        try:
            botocore.auth.SigV4Auth(Credentials(key, secret), service, REGION).add_auth(request)
        finally:
            botocore.auth.datetime.datetime = real
    prepared = request.prepare()
    data = prepared.body or None
    if kind == "tampered":
        data = body + b" " if service != "iam" else body + b"&MaxItems=1"
    headers = {name: value for name, value in prepared.headers.items() if name.lower() != "content-length"}
    sent = urllib.request.Request(prepared.url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(sent, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


@pytest.mark.parametrize("service", sorted(CALLS))
@pytest.mark.parametrize("kind", sorted(CODES))
def test_refused_requests_get_the_protocols_error(secured, service, kind):
    status, headers, body = send(secured, service, kind)
    rest_code, query_code, expected_status = CODES[kind]
    assert status == expected_status, body
    if service == "iam":
        text = body.decode()
        assert f"<Code>{query_code}</Code>" in text and "<Type>Sender</Type>" in text
        assert text.startswith('<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">')
        message = text.split("<Message>")[1].split("</Message>")[0]
    elif service == "logs":
        document = json.loads(body)
        assert document["__type"] == rest_code
        message = document["message"]
    else:
        assert headers["x-amzn-errortype"] == rest_code
        message = json.loads(body)["message"]
    expected = {"wrong-secret": MISMATCH, "tampered": MISMATCH, "unknown-key": INVALID_TOKEN,
                "unsigned": "Missing Authentication Token"}.get(kind)
    if expected:
        assert message == expected
    else:
        assert message.startswith("Signature expired: ")
        assert message.endswith(" - 15 min.)" if service == "iam" else " - 5 min.)")


def test_signed_admin_key_works_with_boto3_presigned_urls(secured):
    url = client(secured, "lambda").generate_presigned_url("list_functions", ExpiresIn=60)
    assert "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200 and "Functions" in json.loads(response.read())


def test_health_stays_open_and_unsigned_lambda_is_refused(secured):
    assert secured.health()["status"] == "ok"
    status, code, _ = error_of(lambda: boto3.client(
        "lambda", endpoint_url=secured.url, region_name=REGION, aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        config=Config(retries={"max_attempts": 0})).list_functions())
    assert (status, code) == (403, "UnrecognizedClientException")


def test_serve_refuses_a_non_loopback_address_without_auth(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LAMINA_AUTH"}
    out = subprocess.run([sys.executable, "-m", "lamina.cli", "serve", "--host", "0.0.0.0", "--port",
                          str(free_port()), "--data-dir", str(tmp_path / "data")], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 2
    assert "refusing to serve 0.0.0.0 without authentication" in out.stderr
    assert "--auth none" in out.stderr


def test_code_location_is_a_signed_link(secured):
    lam = client(secured, "lambda")
    location = lam.get_function(FunctionName="whoami")["Code"]["Location"]
    assert "X-Lamina-Signature=" in location
    with urllib.request.urlopen(location, timeout=30) as response:
        assert response.status == 200 and response.read()[:2] == b"PK"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(location.replace("X-Lamina-Expires=", "X-Lamina-Expires=9"), timeout=30)
    assert caught.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(location.split("?")[0], timeout=30)
    assert caught.value.code == 403


def test_lamina_cost_signs_its_request(secured, tmp_path):
    key, secret = admin_key(secured.data_dir)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    env.pop("AWS_SESSION_TOKEN", None)
    command = [sys.executable, "-m", "lamina.cli", "cost", "--endpoint", secured.url, "--json"]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "functions" in json.loads(out.stdout)
    out = subprocess.run(command, capture_output=True, text=True, timeout=60,
                         env={**env, "AWS_SECRET_ACCESS_KEY": "x" * 40})
    assert out.returncode == 1 and "answered 403" in out.stderr


def test_iam_operations_round_trip_through_boto3(secured):
    iam = client(secured, "iam")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:Get*",
                                                              "Resource": "*"}]})
    iam.create_role(RoleName="rt", Path="/team/", AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
                    Description="round trip", Tags=[{"Key": "k", "Value": "v"}])
    role = iam.get_role(RoleName="rt")["Role"]
    assert (role["Arn"], role["Description"], role["Tags"]) == (
        f"arn:aws:iam::{ACCOUNT}:role/team/rt", "round trip", [{"Key": "k", "Value": "v"}])
    assert [r["RoleName"] for r in iam.list_roles(PathPrefix="/team/")["Roles"]] == ["rt"]
    iam.put_role_policy(RoleName="rt", PolicyName="read", PolicyDocument=doc)
    assert iam.list_role_policies(RoleName="rt")["PolicyNames"] == ["read"]
    assert iam.get_role_policy(RoleName="rt", PolicyName="read")["PolicyDocument"] == json.loads(doc)
    trust = {**TRUST_POLICY, "Statement": [{**TRUST_POLICY["Statement"][0], "Sid": "x"}]}
    iam.update_assume_role_policy(RoleName="rt", PolicyDocument=json.dumps(trust))
    assert iam.get_role(RoleName="rt")["Role"]["AssumeRolePolicyDocument"] == trust
    assert error_of(lambda: iam.get_role_policy(RoleName="rt", PolicyName="none")) == (
        404, "NoSuchEntity", "The role policy with name none cannot be found.")
    iam.delete_role_policy(RoleName="rt", PolicyName="read")
    iam.delete_role(RoleName="rt")

    policy = iam.create_policy(PolicyName="rt-policy", PolicyDocument=doc, Description="d")["Policy"]
    iam.create_policy_version(PolicyArn=policy["Arn"], PolicyDocument=doc, SetAsDefault=True)
    versions = iam.list_policy_versions(PolicyArn=policy["Arn"])["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [("v2", True), ("v1", False)]
    iam.create_user(UserName="carol")
    iam.attach_user_policy(UserName="carol", PolicyArn=policy["Arn"])
    assert iam.get_policy(PolicyArn=policy["Arn"])["Policy"]["AttachmentCount"] == 1
    assert iam.list_attached_user_policies(UserName="carol")["AttachedPolicies"] == [
        {"PolicyName": "rt-policy", "PolicyArn": policy["Arn"]}]
    assert error_of(lambda: iam.delete_policy(PolicyArn=policy["Arn"])) == (
        409, "DeleteConflict", "Cannot delete a policy attached to entities.")
    iam.put_user_policy(UserName="carol", PolicyName="inline", PolicyDocument=doc)
    assert iam.list_user_policies(UserName="carol")["PolicyNames"] == ["inline"]
    # Reading oneself is an authorized call like any other (aws:username names the caller).
    iam.put_user_policy(UserName="carol", PolicyName="self", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser",
                                                "Resource": "arn:aws:iam::*:user/${aws:username}"}]}))
    key = iam.create_access_key(UserName="carol")["AccessKey"]
    carol = client(secured, "iam", key["AccessKeyId"], key["SecretAccessKey"])
    assert carol.get_user()["User"]["UserName"] == "carol"  # the caller's own user
    assert "carol" in [u["UserName"] for u in iam.list_users()["Users"]]
    iam.delete_access_key(UserName="carol", AccessKeyId=key["AccessKeyId"])
    assert error_of(carol.get_user) == (403, "InvalidClientTokenId", INVALID_TOKEN)  # the key is gone at once
    iam.delete_user_policy(UserName="carol", PolicyName="inline")
    iam.delete_user_policy(UserName="carol", PolicyName="self")
    iam.detach_user_policy(UserName="carol", PolicyArn=policy["Arn"])
    iam.delete_user(UserName="carol")
    iam.delete_policy_version(PolicyArn=policy["Arn"], VersionId="v1")
    iam.delete_policy(PolicyArn=policy["Arn"])
    assert error_of(lambda: iam.get_policy(PolicyArn=policy["Arn"])) == (
        404, "NoSuchEntity", f"Policy {policy['Arn']} was not found.")


def test_aws_cli_reads_iam_and_sts(secured, tmp_path):
    client(secured, "iam").create_role(RoleName="listed", AssumeRolePolicyDocument=json.dumps(TRUST_POLICY))
    code, roles, err = cli(secured, tmp_path, "iam", "list-roles")
    assert code == 0, err
    listed = next(r for r in roles["Roles"] if r["RoleName"] == "listed")
    assert listed["AssumeRolePolicyDocument"] == TRUST_POLICY
    code, policy, err = cli(secured, tmp_path, "iam", "get-policy-version", "--policy-arn",
                            "arn:aws:iam::aws:policy/service-role/AWSLambdaRole", "--version-id", "v1")
    assert code == 0, err
    assert policy["PolicyVersion"]["Document"]["Statement"][0]["Action"] == ["lambda:InvokeFunction"]
    code, identity, err = cli(secured, tmp_path, "sts", "get-caller-identity")
    assert (code, identity["Arn"]) == (0, f"arn:aws:iam::{ACCOUNT}:user/admin"), err
    code, _, err = cli(secured, tmp_path, "iam", "get-role", "--role-name", "nope")
    assert code != 0 and "NoSuchEntity" in err and "The role with name nope cannot be found." in err
