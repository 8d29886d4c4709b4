"""With `--auth sigv4`, the entrances beside the SDK's APIs hold too: AWS_IAM function URLs verify
the signature and authorize lambda:InvokeFunctionUrl (identity or resource policy), NONE URLs need
AWS's public grant, S3 notifications need a signed request and the function's grant to
s3.amazonaws.com, and the lamina CLI's own calls (`lamina sign`, `lamina cost`) are signed."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from support import LAMBDA_TRUST as TRUST
from support import REGION, Keys, make_zip

ECHO = "import json\ndef handler(event, context):\n    return event\n"
FORBIDDEN = {"Message": "Forbidden. For troubleshooting Function URL authorization issues, see: "
                        "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"}




def fetch(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, object, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture(scope="module")
def world(admin):
    iam, lam = admin.client("iam"), admin.client("lambda")
    role = iam.create_role(RoleName="lambda-ex", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    for name in ("iam-echo", "open-echo", "on-upload"):
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": ECHO})})
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
    account = admin.client("sts").get_caller_identity()["Account"]
    iam_url = lam.create_function_url_config(FunctionName="iam-echo", AuthType="AWS_IAM")["FunctionUrl"]
    open_url = lam.create_function_url_config(FunctionName="open-echo", AuthType="NONE")["FunctionUrl"]
    return {"account": account, "iam": path_form(admin.url, iam_url), "open": path_form(admin.url, open_url),
            "arn": f"arn:aws:lambda:{REGION}:{account}:function:iam-echo"}


def path_form(base: str, function_url: str) -> str:
    """The DNS-free form of a function URL on this server: /lambda-url/<url-id>/."""
    url_id = function_url.split("//", 1)[1].split(".", 1)[0]
    return f"{base}/lambda-url/{url_id}/"


def user(admin: Keys, name: str, inline: dict | None = None) -> Keys:
    iam = admin.client("iam")
    iam.create_user(UserName=name)
    if inline is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(inline))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Keys(admin.url, key["AccessKeyId"], key["SecretAccessKey"])


def test_aws_iam_url_signed_by_an_allowed_user(admin, world):
    alice = user(admin, "alice", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunctionUrl", "Resource": world["arn"],
         "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}}]})
    url = world["iam"] + "hello?x=1"
    status, _, data = fetch("GET", url, headers=alice.sign("GET", url))
    assert status == 200, data
    iam = json.loads(data)["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == alice.key_id
    assert iam["userArn"] == f"arn:aws:iam::{world['account']}:user/alice"
    assert iam["userId"].startswith("AIDA") and iam["accountId"] == world["account"]
    body = b'{"a": 1}'  # the body is signed too
    headers = alice.sign("POST", url, body, {"Content-Type": "application/json"})
    assert fetch("POST", url, body, headers)[0] == 200


def test_aws_iam_url_refuses_users_without_permission_tampered_and_unsigned(admin, world):
    bob = user(admin, "bob")
    url = world["iam"] + "hello"
    for status, headers, data in (
            fetch("GET", url, headers=bob.sign("GET", url)),  # no policy allows bob
            fetch("GET", url),  # unsigned
            fetch("GET", url + "?tampered=1", headers=admin.sign("GET", url)),  # the query was changed
            fetch("POST", url, b"changed", admin.sign("POST", url, b"signed")),  # the body was changed
            fetch("GET", url, headers=Keys(admin.url, admin.key_id, "wrong-secret").sign("GET", url))):
        assert (status, json.loads(data)) == (403, FORBIDDEN)
        assert headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert fetch("GET", url, headers=admin.sign("GET", url))[0] == 200  # the admin key may


def test_aws_iam_url_allowed_by_the_resource_policy(admin, world):
    carol = user(admin, "carol")
    url = world["iam"]
    assert fetch("GET", url, headers=carol.sign("GET", url))[0] == 403
    admin.client("lambda").add_permission(
        FunctionName="iam-echo", StatementId="carol", Action="lambda:InvokeFunctionUrl",
        Principal=f"arn:aws:iam::{world['account']}:user/carol", FunctionUrlAuthType="AWS_IAM")
    assert fetch("GET", url, headers=carol.sign("GET", url))[0] == 200
    admin.client("lambda").remove_permission(FunctionName="iam-echo", StatementId="carol")
    assert fetch("GET", url, headers=carol.sign("GET", url))[0] == 403


def test_none_url_needs_the_public_grant(admin, world):
    url = world["open"]
    status, _, data = fetch("GET", url)
    assert (status, json.loads(data)) == (403, FORBIDDEN)
    admin.client("lambda").add_permission(
        FunctionName="open-echo", StatementId="FunctionURLAllowPublicAccess", Action="lambda:InvokeFunctionUrl",
        Principal="*", FunctionUrlAuthType="NONE")
    status, _, data = fetch("GET", url + "path?q=1")
    assert status == 200
    event = json.loads(data)
    assert event["rawPath"] == "/path" and "authorizer" not in event["requestContext"]
    admin.client("lambda").remove_permission(FunctionName="open-echo", StatementId="FunctionURLAllowPublicAccess")
    assert fetch("GET", url)[0] == 403


def s3_message(bucket: str) -> bytes:
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION, "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": "k", "size": 1}}}]}).encode()


def test_s3_notifications_need_a_signature_and_the_grant_to_s3(admin, world):
    url = f"{admin.url}/_lamina/s3-events/on-upload"
    body = s3_message("photos")
    headers = {"Content-Type": "application/json"}
    status, _, data = fetch("POST", url, body, headers)
    assert status == 403 and json.loads(data)["message"] == "Missing Authentication Token"
    status, _, data = fetch("POST", url, body, admin.sign("POST", url, body, headers))
    assert status == 403
    assert "does not allow s3.amazonaws.com to invoke it for arn:aws:s3:::photos" in json.loads(data)["Message"]
    admin.client("lambda").add_permission(
        FunctionName="on-upload", StatementId="s3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::photos", SourceAccount=world["account"])
    status, _, data = fetch("POST", url, body, admin.sign("POST", url, body, headers))
    assert status == 202 and json.loads(data)["Invoked"] == 1
    other = s3_message("other-bucket")  # the grant names one bucket
    assert fetch("POST", url, other, admin.sign("POST", url, other, headers))[0] == 403
    dave = user(admin, "dave")  # a key without lambda:InvokeFunction cannot speak for S3
    status, _, data = fetch("POST", url, body, dave.sign("POST", url, body, headers))
    assert status == 403 and "lambda:InvokeFunction" in json.loads(data)["Message"]


def run_cli(signed, admin: Keys, tmp_path, *args: str, keys: Keys | None = None) -> subprocess.CompletedProcess:
    keys = keys or admin
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(signed.data_dir / "credentials"), "AWS_PROFILE": "lamina",
           "AWS_REGION": REGION}
    if keys is not admin:
        env.update(AWS_ACCESS_KEY_ID=keys.key_id, AWS_SECRET_ACCESS_KEY=keys.secret)
    return subprocess.run([sys.executable, "-m", "lamina.cli", *args, "--endpoint", signed.url],
                          capture_output=True, text=True, timeout=120, env=env)


def test_cli_calls_are_signed_with_the_standard_credential_chain(signed, admin, tmp_path):
    admin.client("signer").put_signing_profile(profileName="trusted", platformId="AWSLambda-SHA384-ECDSA")
    path = tmp_path / "code.zip"
    path.write_bytes(make_zip({"app.py": ECHO}))
    out = run_cli(signed, admin, tmp_path, "sign", "--profile", "trusted", str(path))  # the profile's keys
    assert out.returncode == 0, out.stderr
    assert "signed" in out.stdout
    out = run_cli(signed, admin, tmp_path, "cost", "--json")
    assert out.returncode == 0, out.stderr
    assert "functions" in json.loads(out.stdout)
    erin = user(admin, "erin")  # signing with a profile needs signer:StartSigningJob on it
    out = run_cli(signed, admin, tmp_path, "sign", "--profile", "trusted", str(path), keys=erin)
    assert out.returncode == 1 and "not authorized to perform: signer:StartSigningJob" in out.stdout + out.stderr
    admin.client("iam").put_user_policy(UserName="erin", PolicyName="sign", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "signer:StartSigningJob",
                                                "Resource": f"arn:aws:signer:{REGION}:*:/signing-profiles/trusted"}]}))
    out = run_cli(signed, admin, tmp_path, "sign", "--profile", "trusted", str(path), keys=erin)
    assert out.returncode == 0, out.stderr
    wrong = Keys(admin.url, admin.key_id, "not-the-secret")  # environment keys come first in the chain
    out = run_cli(signed, admin, tmp_path, "sign", "--profile", "trusted", str(path), keys=wrong)
    assert out.returncode == 1 and "signature we calculated does not match" in out.stdout + out.stderr


def test_lamina_endpoints_ask_the_actions_they_stand_for(admin, world):
    frank = user(admin, "frank")
    base = admin.url
    body = json.dumps({"Event": "{}"}).encode()
    json_headers = {"Content-Type": "application/json"}
    calls = [("GET", "/system/cost", None, "cloudwatch:GetMetricData"),
             ("GET", "/metrics", None, "cloudwatch:GetMetricData"),
             ("GET", "/_lamina/stacks", None, "cloudformation:ListStacks"),
             ("PUT", "/_lamina/stacks/app", json.dumps({"resources": {}}).encode(), "cloudformation:CreateStack"),
             ("GET", "/_lamina/test-events/iam-echo", None, "schemas:DescribeSchema"),
             ("PUT", "/_lamina/test-events/iam-echo/one", body, "schemas:UpdateSchema")]
    for method, path, data, action in calls:
        headers = json_headers if data else {}
        status, _, answer = fetch(method, base + path, data, frank.sign(method, base + path, data, headers))
        assert status == 403 and f"not authorized to perform: {action}" in answer.decode(), (path, answer)
        status, _, answer = fetch(method, base + path, data, admin.sign(method, base + path, data, headers))
        assert status == 200, (path, answer)
    path, data = "/_lamina/profiles", json.dumps({"FunctionName": "iam-echo", "DurationSeconds": 1}).encode()
    status, _, answer = fetch("POST", base + path, data, frank.sign("POST", base + path, data, json_headers))
    assert status == 403 and "not authorized to perform: lambda:GetFunction" in answer.decode()
    admin.client("iam").put_user_policy(UserName="frank", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["cloudwatch:GetMetricData", "cloudformation:DescribeStacks"],
             "Resource": "*"}]}))
    for path in ("/system/cost", "/_lamina/stacks/app"):
        assert fetch("GET", base + path, headers=frank.sign("GET", base + path))[0] == 200
    path = "/_lamina/stacks/app"  # an existing stack: an update
    data = json.dumps({"resources": {}}).encode()
    status, _, answer = fetch("PUT", base + path, data, frank.sign("PUT", base + path, data, json_headers))
    assert status == 403 and "cloudformation:UpdateStack" in answer.decode()
