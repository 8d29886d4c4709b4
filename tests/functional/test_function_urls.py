"""Function URLs through a real server: the config API's shapes and errors (boto3), and serving by
path and Host header with AWS's payload format 2.0 event, response mapping, CORS, AWS_IAM refusal,
payload limit, throttling, aliases and the delete cascade."""

from __future__ import annotations

import base64
import http.client
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support import ACCOUNT, REGION, ROLE, make_zip

ECHO = ("import json, os\n"
        "def handler(event, context):\n"
        "    return {'statusCode': 200, 'headers': {'x-trace': os.environ.get('_X_AMZN_TRACE_ID', '')},\n"
        "            'body': json.dumps(event)}\n")
# Answers with the JSON value its request body names (`{"answer": ...}`), or fails on `{"fail": true}`.
MAPPER = """import json
def handler(event, context):
    request = json.loads(event.get("body") or "{}")
    if request.get("fail"):
        raise RuntimeError("failed")
    return request["answer"]
"""


@pytest.fixture(scope="module")
def urls(lam):
    made = {}
    for name, code in (("echo", ECHO), ("mapper", MAPPER)):
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": code})})
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    made["echo"] = lam.create_function_url_config(
        FunctionName="echo", AuthType="NONE",
        Cors={"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["x-custom"],
              "ExposeHeaders": ["x-out"], "MaxAge": 300, "AllowCredentials": True})
    made["mapper"] = lam.create_function_url_config(FunctionName="mapper", AuthType="NONE")
    return made


def url_id(config: dict) -> str:
    return config["FunctionUrl"].split("//", 1)[1].split(".", 1)[0]


def request(lamina, method: str, target: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", lamina.port, timeout=60)
    conn.request(method, target, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.headers, data


# ---- the config API ------------------------------------------------------------------------------

def test_create_get_update_list_delete_shapes(lam, lamina):
    lam.create_function(FunctionName="cfg", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})})
    created = lam.create_function_url_config(FunctionName="cfg", AuthType="AWS_IAM")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    created.pop("ResponseMetadata")
    assert set(created) == {"FunctionUrl", "FunctionArn", "AuthType", "CreationTime"}  # InvokeMode only when given
    assert created["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cfg"
    ident = url_id(created)
    assert len(ident) == 32 and ident.isalnum() and ident.islower()
    assert created["FunctionUrl"] == f"http://{ident}.lambda-url.{REGION}.localhost:{lamina.port}/"
    got = lam.get_function_url_config(FunctionName="cfg")
    assert got["LastModifiedTime"] == got["CreationTime"] == created["CreationTime"]
    updated = lam.update_function_url_config(FunctionName="cfg", AuthType="NONE", InvokeMode="BUFFERED",
                                             Cors={"AllowOrigins": ["*"]})
    assert (updated["AuthType"], updated["InvokeMode"], updated["Cors"]) == ("NONE", "BUFFERED", {"AllowOrigins": ["*"]})
    assert updated["LastModifiedTime"] >= updated["CreationTime"] and updated["FunctionUrl"] == created["FunctionUrl"]
    listed = lam.list_function_url_configs(FunctionName="cfg")["FunctionUrlConfigs"]
    assert [item["FunctionUrl"] for item in listed] == [created["FunctionUrl"]]
    lam.delete_function_url_config(FunctionName="cfg")
    with pytest.raises(lam.exceptions.ResourceNotFoundException, match="The resource you requested does not exist."):
        lam.get_function_url_config(FunctionName="cfg")
    assert lam.list_function_url_configs(FunctionName="cfg")["FunctionUrlConfigs"] == []


def test_config_errors(lam, urls):
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:echo"
    with pytest.raises(lam.exceptions.ResourceConflictException) as caught:
        lam.create_function_url_config(FunctionName="echo", AuthType="NONE")
    assert caught.value.response["Error"]["Message"] == (
        f"Failed to create function url config for [functionArn = {arn}]. Error message:  FunctionUrlConfig exists "
        "for this Lambda function")
    with pytest.raises(lam.exceptions.ClientError, match=r"Value '1' at 'qualifier' failed to satisfy constraint"):
        lam.create_function_url_config(FunctionName="echo", Qualifier="1", AuthType="NONE")
    with pytest.raises(lam.exceptions.ResourceNotFoundException, match="Function does not exist"):
        lam.create_function_url_config(FunctionName="echo", Qualifier="nope", AuthType="NONE")
    with pytest.raises(lam.exceptions.ResourceNotFoundException, match="Function does not exist"):
        lam.create_function_url_config(FunctionName="missing", AuthType="NONE")
    with pytest.raises(lam.exceptions.ClientError, match="Member must satisfy enum value set"):
        lam.create_function_url_config(FunctionName="echo", Qualifier="x", AuthType="BASIC")
    with pytest.raises(lam.exceptions.ClientError, match="Member must satisfy enum value set"):
        lam.update_function_url_config(FunctionName="echo", InvokeMode="SOMETIMES")
    with pytest.raises(lam.exceptions.ClientError, match="maxAge"):
        lam.update_function_url_config(FunctionName="echo", Cors={"MaxAge": 86401})
    with pytest.raises(lam.exceptions.ResourceNotFoundException, match="The resource you requested does not exist."):
        lam.delete_function_url_config(FunctionName="mapper", Qualifier="nope")


# ---- serving ----------------------------------------------------------------------------------

def test_get_with_query_and_cookies_builds_the_exact_event(lamina, urls):
    ident = url_id(urls["echo"])
    status, headers, data = request(lamina, "GET", f"/lambda-url/{ident}/items/a%2Fb?multi=foo&multi=%2Fbar&empty=",
                                    headers={"Cookie": "a=1; b=two", "User-Agent": "tester/1", "X-Twice": "1"})
    assert status == 200
    event = json.loads(data)
    context = event["requestContext"]
    assert headers["x-amzn-RequestId"] == context["requestId"]
    assert context["time"].endswith(" +0000") and isinstance(context["timeEpoch"], int)
    trace = event["headers"].pop("x-amzn-trace-id")
    assert trace.startswith("Root=1-")
    assert headers["x-trace"].startswith(trace + ";Parent=")  # the function's trace is the request's
    assert event == {
        "version": "2.0", "routeKey": "$default", "rawPath": "/items/a%2Fb",
        "rawQueryString": "multi=foo&multi=%2Fbar&empty=", "cookies": ["a=1", "b=two"],
        "headers": {"host": f"127.0.0.1:{lamina.port}", "accept-encoding": "identity", "user-agent": "tester/1",
                    "x-twice": "1", "x-forwarded-for": "127.0.0.1", "x-forwarded-port": str(lamina.port),
                    "x-forwarded-proto": "http"},
        "queryStringParameters": {"multi": "foo,/bar", "empty": ""},
        "requestContext": {
            "accountId": "anonymous", "apiId": ident, "authentication": None, "domainName": f"{ident}.lambda-url.{REGION}.localhost",
            "domainPrefix": ident,
            "http": {"method": "GET", "path": "/items/a%2Fb", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "tester/1"},
            "requestId": context["requestId"], "routeKey": "$default", "stage": "$default",
            "time": context["time"], "timeEpoch": context["timeEpoch"]},
        "isBase64Encoded": False,
    }


def test_host_header_form_and_bodies(lamina, urls):
    ident = url_id(urls["echo"])
    host = f"{ident}.lambda-url.{REGION}.localhost:{lamina.port}"
    status, _, data = request(lamina, "POST", "/", body=b'{"k": "v"}',
                              headers={"Host": host, "Content-Type": "application/json"})
    event = json.loads(data)
    assert status == 200 and (event["body"], event["isBase64Encoded"]) == ('{"k": "v"}', False)
    assert event["rawPath"] == "/" and "queryStringParameters" not in event and "cookies" not in event
    assert event["headers"]["host"] == host
    binary = bytes(range(256))
    _, _, data = request(lamina, "PUT", "/bin", body=binary,
                         headers={"Host": host, "Content-Type": "application/octet-stream"})
    event = json.loads(data)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == binary
    _, _, data = request(lamina, "POST", "/form", body=b"a=1&b=2",
                         headers={"Host": host, "Content-Type": "application/x-www-form-urlencoded"})
    assert json.loads(data)["isBase64Encoded"] is True  # AWS encodes form posts
    _, _, data = request(lamina, "DELETE", "/none", headers={"Host": host})
    event = json.loads(data)
    assert "body" not in event and event["isBase64Encoded"] is False


@pytest.mark.parametrize(("answer", "status", "content_type", "body", "extra"), [
    ({"statusCode": 201, "headers": {"x-out": "1"}, "body": "made"}, 201, "application/json", b"made", {"x-out": "1"}),
    ({"statusCode": "418", "headers": {"content-type": "text/plain"}, "body": "tea"}, 418, "text/plain", b"tea", {}),
    ({"statusCode": 200, "body": base64.b64encode(b"\x00\xff").decode(), "isBase64Encoded": True,
      "headers": {"content-type": "application/octet-stream"}}, 200, "application/octet-stream", b"\x00\xff", {}),
    ({"statusCode": 200, "body": {"nested": [1, 2]}}, 200, "application/json", b'{"nested":[1,2]}', {}),
    ({"hello": "world"}, 200, "application/json", b'{"hello":"world"}', {}),
    ("hello", 200, "application/json", b"hello", {}),
    (3, 200, "application/json", b"3", {}),
    ([True, "x", 3.5], 200, "application/json", b'[true,"x",3.5]', {}),
    ({"statusCode": "teapot"}, 502, "application/json", b"Internal Server Error", {}),
])
def test_response_mapping(lamina, urls, answer, status, content_type, body, extra):
    got_status, headers, data = request(lamina, "POST", f"/lambda-url/{url_id(urls['mapper'])}/",
                                        body=json.dumps({"answer": answer}).encode(),
                                        headers={"Content-Type": "application/json"})
    assert (got_status, headers["content-type"], data) == (status, content_type, body)
    for name, value in extra.items():
        assert headers[name] == value


def test_cookies_become_set_cookie_headers(lamina, urls):
    answer = {"statusCode": 200, "cookies": ["a=1; Path=/", "b=2"], "body": ""}
    _, headers, _ = request(lamina, "POST", f"/lambda-url/{url_id(urls['mapper'])}/",
                            body=json.dumps({"answer": answer}).encode(), headers={"Content-Type": "application/json"})
    assert headers.get_all("set-cookie") == ["a=1; Path=/", "b=2"]


def test_a_function_error_is_502(lamina, urls):
    status, _, data = request(lamina, "POST", f"/lambda-url/{url_id(urls['mapper'])}/", body=b'{"fail": true}',
                              headers={"Content-Type": "application/json"})
    assert (status, data) == (502, b"Internal Server Error")


def test_cors_preflight_is_answered_without_the_function(lamina, urls):
    ident = url_id(urls["echo"])
    status, headers, data = request(lamina, "OPTIONS", f"/lambda-url/{ident}/x", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert (status, data) == (200, b"")
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["access-control-allow-methods"] == "GET,POST"
    assert headers["access-control-allow-headers"] == "x-custom"
    assert headers["access-control-expose-headers"] == "x-out"
    assert headers["access-control-max-age"] == "300"
    assert headers["access-control-allow-credentials"] == "true"
    assert "x-amzn-RequestId" not in headers  # no invocation
    status, headers, _ = request(lamina, "OPTIONS", f"/lambda-url/{ident}/x", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert status == 200 and "access-control-allow-origin" not in headers
    _, headers, _ = request(lamina, "GET", f"/lambda-url/{ident}/", headers={"Origin": "https://app.example"})
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["access-control-expose-headers"] == "x-out"
    _, headers, _ = request(lamina, "GET", f"/lambda-url/{ident}/")
    assert "access-control-allow-origin" not in headers


FORBIDDEN = {"Message": "Forbidden. For troubleshooting Function URL authorization issues, see: "
                        "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"}


def test_aws_iam_urls_refuse_unsigned_requests(lam, lamina, urls):
    lam.create_alias(FunctionName="echo", Name="iam", FunctionVersion="$LATEST")
    config = lam.create_function_url_config(FunctionName="echo", Qualifier="iam", AuthType="AWS_IAM")
    assert config["FunctionArn"].endswith(":function:echo:iam")
    ident = url_id(config)
    status, headers, data = request(lamina, "GET", f"/lambda-url/{ident}/")
    assert (status, json.loads(data)) == (403, FORBIDDEN)
    assert headers["x-amzn-ErrorType"] == "AccessDeniedException"
    status, _, data = request(lamina, "GET", f"/lambda-url/{ident}/", headers={"Authorization": "Bearer x"})
    assert (status, json.loads(data)) == (403, FORBIDDEN)
    url = f"{lamina.url}/lambda-url/{ident}/signed?q=1"
    signed = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("AKIDEXAMPLE12345", "secret"), "lambda", REGION).add_auth(signed)
    status, _, data = request(lamina, "GET", f"/lambda-url/{ident}/signed?q=1", headers=dict(signed.headers.items()))
    assert status == 200
    event = json.loads(data)
    assert event["requestContext"]["authorizer"]["iam"]["accessKey"] == "AKIDEXAMPLE12345"
    assert event["requestContext"]["accountId"] == ACCOUNT
    wrong_region = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("AKIDEXAMPLE12345", "secret"), "lambda", "eu-west-1").add_auth(wrong_region)
    status, _, _ = request(lamina, "GET", f"/lambda-url/{ident}/signed?q=1", headers=dict(wrong_region.headers.items()))
    assert status == 403


def test_an_oversized_body_is_413(lamina, urls):
    status, headers, data = request(lamina, "POST", f"/lambda-url/{url_id(urls['echo'])}/",
                                    body=b"x" * (6_291_456 + 1), headers={"Content-Type": "text/plain"})
    assert status == 413 and headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"
    status, _, _ = request(lamina, "POST", f"/lambda-url/{url_id(urls['echo'])}/",
                           body=b"\x01" * 5_000_000, headers={"Content-Type": "application/octet-stream"})
    assert status == 413  # within the body cap, but over 6 MB once base64-encoded in the event


def test_unknown_urls_and_deleted_aliases_are_forbidden(lam, lamina, urls):
    assert request(lamina, "GET", "/lambda-url/" + "a" * 32 + "/")[0] == 403
    lam.create_alias(FunctionName="mapper", Name="gone", FunctionVersion="$LATEST")
    ident = url_id(lam.create_function_url_config(FunctionName="mapper", Qualifier="gone", AuthType="NONE"))
    assert request(lamina, "POST", f"/lambda-url/{ident}/", body=b'{"answer": 1}',
                   headers={"Content-Type": "application/json"})[0] == 200
    lam.delete_alias(FunctionName="mapper", Name="gone")
    assert request(lamina, "GET", f"/lambda-url/{ident}/")[0] == 403


def test_zero_reserved_concurrency_throttles_with_429(lam, lamina):
    lam.create_function(FunctionName="throttled", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})})
    ident = url_id(lam.create_function_url_config(FunctionName="throttled", AuthType="NONE"))
    lam.put_function_concurrency(FunctionName="throttled", ReservedConcurrentExecutions=0)
    status, headers, _ = request(lamina, "GET", f"/lambda-url/{ident}/")
    assert status == 429 and headers["x-amzn-ErrorType"] == "TooManyRequestsException"


def test_deleting_the_function_deletes_its_urls(lam, lamina):
    lam.create_function(FunctionName="doomed", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})})
    lam.get_waiter("function_active_v2").wait(FunctionName="doomed", WaiterConfig={"Delay": 0.1})
    ident = url_id(lam.create_function_url_config(FunctionName="doomed", AuthType="NONE"))
    assert request(lamina, "GET", f"/lambda-url/{ident}/")[0] == 200
    lam.delete_function(FunctionName="doomed")
    assert request(lamina, "GET", f"/lambda-url/{ident}/")[0] == 403
    lam.create_function(FunctionName="doomed", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": ECHO})})
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_url_config(FunctionName="doomed")


def test_the_aws_cli_manages_urls(aws_cli, urls):
    code, out, err = aws_cli("lambda", "get-function-url-config", "--function-name", "mapper")
    assert code == 0, err
    assert out["FunctionUrl"] == urls["mapper"]["FunctionUrl"] and out["AuthType"] == "NONE"
