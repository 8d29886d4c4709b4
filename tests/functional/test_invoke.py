"""Invoke through boto3 against a real server with real sandboxed runtime processes."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, ROLE, LaminaProcess, client_for, make_zip

RUNTIME = "python3.12"

APP = r'''
import json, os, sys, time, logging

COUNT = 0
logger = logging.getLogger()
logger.setLevel(logging.INFO)


def echo(event, context):
    return event


def counter(event, context):
    global COUNT
    COUNT += 1
    with open("/tmp/marker", "a") as f:
        f.write("x")
    return {"count": COUNT, "tmp": len(open("/tmp/marker").read())}


def describe(event, context):
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "memory_type": type(context.memory_limit_in_mb).__name__,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "client_context": None if context.client_context is None else {
            "custom": context.client_context.custom, "env": context.client_context.env},
        "env": {k: os.environ.get(k) for k in (
            "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
            "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "LAMBDA_TASK_ROOT", "_HANDLER", "TZ",
            "AWS_ENDPOINT_URL", "GREETING", "AWS_ACCESS_KEY_ID", "_X_AMZN_TRACE_ID")},
    }


def chatty(event, context):
    print("hello from print")
    logger.info("hello from logging")
    return "ok"


def sleepy(event, context):
    time.sleep(event.get("seconds", 1))
    return context.log_stream_name


def boom(event, context):
    raise ValueError("bad thing")


def unmarshal(event, context):
    return {1, 2}


def leave(event, context):
    sys.exit(3)


def huge(event, context):
    return "x" * 6_300_000


def calls_lamina(event, context):
    import boto3
    names = [f["FunctionName"] for f in boto3.client("lambda").list_functions()["Functions"]]
    return {"sees_itself": context.function_name in names}
'''


def deploy(lam, name: str, handler: str, files: dict | None = None, **extra) -> None:
    lam.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler=handler,
                        Code={"ZipFile": make_zip(files or {"app.py": APP})}, **extra)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


EMPTY = object()


def invoke(lam, name: str, payload=EMPTY, **kwargs):
    body = b"" if payload is EMPTY else json.dumps(payload).encode()
    response = lam.invoke(FunctionName=name, Payload=body, **kwargs)
    raw = response["Payload"].read()
    return response, (json.loads(raw) if raw else None)


@pytest.fixture(scope="module")
def functions(lam):
    deploy(lam, "echo", "app.echo")
    deploy(lam, "describe", "app.describe", Environment={"Variables": {"GREETING": "hola"}}, MemorySize=256)
    for name in ("counter", "chatty", "sleepy", "boom", "unmarshal", "leave", "huge", "calls_lamina"):
        deploy(lam, name, f"app.{name}", Timeout=10)
    return lam


@pytest.mark.parametrize("payload", [
    {"a": 1, "nested": {"list": [1, 2.5, "three", None, True, False]}}, [1, 2, 3], "a string", 42, 3.25,
    True, None, {"unicode": "héllo wörld ✓ 日本"},
])
def test_echo_every_json_type(functions, payload):
    response, body = invoke(functions, "echo", payload)
    assert response["StatusCode"] == 200
    assert body == payload
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"


def test_empty_payload_is_an_empty_object_and_none_is_null(functions):
    response, body = invoke(functions, "echo")
    assert body == {}


def test_context_fields_and_environment(functions):
    response, body = invoke(functions, "describe", {}, ClientContext=base64.b64encode(
        json.dumps({"custom": {"k": "v"}, "env": {"e": "1"}}).encode()).decode())
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert body["aws_request_id"] == request_id
    assert body["function_name"] == "describe"
    assert body["function_version"] == "$LATEST"
    assert body["invoked_function_arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:describe"
    assert body["memory_limit_in_mb"] == "256" and body["memory_type"] == "str"
    assert body["log_group_name"] == "/aws/lambda/describe"
    assert body["log_stream_name"].split("/")[3].startswith("[$LATEST]")
    assert 0 < body["remaining"] <= 3000
    assert body["identity"] == [None, None]
    assert body["client_context"] == {"custom": {"k": "v"}, "env": {"e": "1"}}
    env = body["env"]
    assert env["AWS_REGION"] == REGION and env["AWS_DEFAULT_REGION"] == REGION
    assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{RUNTIME}"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "describe"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == body["log_stream_name"]
    assert env["_HANDLER"] == "app.describe" and env["TZ"] == ":UTC"
    assert env["GREETING"] == "hola"
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert env["AWS_ACCESS_KEY_ID"]
    qualified = invoke(functions, "describe:$LATEST", {})[1]
    assert qualified["invoked_function_arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:describe:$LATEST"


def test_log_result_has_start_end_report(functions):
    response, body = invoke(functions, "chatty", {}, LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    lines = log.splitlines()
    assert f"START RequestId: {request_id} Version: $LATEST" in lines
    assert "hello from print" in lines
    assert any(line.startswith("[INFO]\t") and line.endswith(f"\t{request_id}\thello from logging") for line in lines)
    assert f"END RequestId: {request_id}" in lines
    report = next(line for line in lines if line.startswith("REPORT"))
    fields = report.split("\t")
    assert fields[0] == f"REPORT RequestId: {request_id}"
    assert fields[1].startswith("Duration: ") and fields[1].endswith(" ms")
    assert fields[2].startswith("Billed Duration: ")
    assert fields[3] == "Memory Size: 128 MB"
    assert fields[4].startswith("Max Memory Used: ")


def test_warm_environment_keeps_globals_and_tmp(functions):
    counts = [invoke(functions, "counter", {})[1] for _ in range(3)]
    assert [c["count"] for c in counts] == [counts[0]["count"], counts[0]["count"] + 1, counts[0]["count"] + 2]
    assert counts[2]["tmp"] == counts[0]["tmp"] + 2


def test_concurrent_invokes_scale_out_one_environment_each(functions):
    invoke(functions, "sleepy", {"seconds": 0})
    start = time.monotonic()
    with ThreadPoolExecutor(5) as pool:
        streams = list(pool.map(lambda _: invoke(functions, "sleepy", {"seconds": 1})[1], range(5)))
    elapsed = time.monotonic() - start
    assert elapsed < 3.5
    assert len(set(streams)) == 5


def test_handler_exception_payload_and_recovery(functions):
    response, body = invoke(functions, "boom", {})
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "bad thing"
    assert body["requestId"] == response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert isinstance(body["stackTrace"], list) and any("boom" in frame for frame in body["stackTrace"])
    assert invoke(functions, "boom", {})[0]["FunctionError"] == "Unhandled"


def test_marshal_error(functions):
    response, body = invoke(functions, "unmarshal", {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.MarshalError"
    assert body["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"


def test_exit_error_and_recovery(functions):
    response, body = invoke(functions, "leave", {})
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert response["FunctionError"] == "Unhandled"
    assert body == {"errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status 3"}
    assert invoke(functions, "leave", {})[1]["errorType"] == "Runtime.ExitError"


def test_response_too_large(functions):
    response, body = invoke(functions, "huge", {})
    assert response["FunctionError"] == "Unhandled"
    assert body == {"errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                    "errorType": "Function.ResponseSizeTooLarge"}


def test_request_too_large(functions):
    with pytest.raises(ClientError) as info:
        functions.invoke(FunctionName="echo", Payload=b'"' + b"x" * 6_291_456 + b'"')
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert info.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert info.value.response["Error"]["Message"] == \
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"


def test_big_payload_round_trips(functions):
    payload = "y" * 5_000_000
    assert invoke(functions, "echo", payload)[1] == payload


@pytest.mark.parametrize(("handler", "files", "error_type", "message"), [
    ("missing.handler", {"app.py": "x = 1\n"}, "Runtime.ImportModuleError",
     "Unable to import module 'missing': No module named 'missing'"),
    ("app.nothere", {"app.py": "x = 1\n"}, "Runtime.HandlerNotFound", "Handler 'nothere' missing on module 'app'"),
    ("app.handler", {"app.py": "def handler(:\n"}, "Runtime.UserCodeSyntaxError", "Syntax error in module 'app'"),
])
def test_init_errors(functions, handler, files, error_type, message):
    name = "init-" + error_type.split(".")[1].lower()
    deploy(functions, name, handler, files)
    for _ in range(2):  # retried inside the invoke, it fails again: the environment is discarded
        response, body = invoke(functions, name, {})
        assert response["FunctionError"] == "Unhandled"
        assert body["errorType"] == error_type
        assert body["errorMessage"].startswith(message)
        assert body["requestId"] == ""


def test_timeout_then_cold_start(functions):
    deploy(functions, "slow", "app.sleepy", Timeout=1)
    response, body = invoke(functions, "slow", {"seconds": 5}, LogType="Tail")
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert response["FunctionError"] == "Unhandled"
    assert body == {"errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds"}
    log = base64.b64decode(response["LogResult"]).decode()
    assert "Task timed out after" in log and "Status: timeout" in log
    again, stream = invoke(functions, "slow", {"seconds": 0}, LogType="Tail")
    assert "FunctionError" not in again
    assert "Init Duration" in base64.b64decode(again["LogResult"]).decode()


def test_boto3_inside_a_function_reaches_lamina(functions):
    response, body = invoke(functions, "calls_lamina", {})
    assert "FunctionError" not in response, body
    assert body == {"sees_itself": True}


def test_event_and_dry_run(functions):
    event = functions.invoke(FunctionName="echo", InvocationType="Event", Payload=b"{}")
    assert event["StatusCode"] == 202
    dry = functions.invoke(FunctionName="echo", InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204


def test_missing_and_failed_functions(functions):
    with pytest.raises(ClientError) as info:
        functions.invoke(FunctionName="nobody", Payload=b"{}")
    assert info.value.response["Error"]["Message"] == \
        f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:nobody:$LATEST"
    functions.create_function(FunctionName="noderun", Runtime="java21", Role=ROLE, Handler="index.handler",
                              Code={"ZipFile": make_zip({"index.js": "exports.handler = async () => 1"})})
    for _ in range(50):
        if functions.get_function_configuration(FunctionName="noderun")["State"] == "Failed":
            break
        time.sleep(0.1)
    with pytest.raises(ClientError) as info:
        functions.invoke(FunctionName="noderun", Payload=b"{}")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert info.value.response["Error"]["Message"] == (
        "The operation cannot be performed at this time. The function is currently in the following state: Failed")


def test_new_code_retires_old_environments(functions):
    deploy(functions, "changing", "app.handler", {"app.py": "def handler(e, c):\n    return 1\n"})
    assert invoke(functions, "changing", {})[1] == 1
    functions.update_function_code(FunctionName="changing", ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 2\n"}))
    functions.get_waiter("function_updated_v2").wait(FunctionName="changing")
    assert invoke(functions, "changing", {})[1] == 2


def test_logs_are_stored_per_environment_stream(functions, lamina):
    response, _ = invoke(functions, "chatty", {})
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    deadline = time.monotonic() + 10
    rows = []
    while time.monotonic() < deadline:
        with sqlite3.connect(lamina.data_dir / "lamina.db") as db:
            rows = db.execute("SELECT s.name, e.message FROM log_events e JOIN log_streams s ON s.id = e.stream_id "
                              "WHERE e.log_group = ? ORDER BY e.id", ("/aws/lambda/chatty",)).fetchall()
        if any(message.startswith(f"REPORT RequestId: {request_id}") for _, message in rows):
            break
        time.sleep(0.2)
    messages = [message for _, message in rows]
    assert f"START RequestId: {request_id} Version: $LATEST" in messages
    assert "hello from print\n" in messages  # AWS stores a printed line with its newline
    assert any(m.startswith(f"REPORT RequestId: {request_id}") for m in messages)
    assert all(stream.split("/")[3].startswith("[$LATEST]") for stream, _ in rows)


def test_account_concurrency_limit_throttles_with_429(tmp_path):
    server = LaminaProcess(tmp_path / "data", env={"LAMINA_CONCURRENCY_LIMIT": "1"}).start()
    try:
        lam = client_for(server.url)
        deploy(lam, "sleepy", "app.sleepy", Timeout=10)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(invoke, lam, "sleepy", {"seconds": 2})
            time.sleep(0.7)
            with pytest.raises(ClientError) as info:
                lam.invoke(FunctionName="sleepy", Payload=b"{}")
            assert first.result()[0]["StatusCode"] == 200
        error = info.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert error["Error"]["Code"] == "TooManyRequestsException"
        assert error["Reason"] == "ConcurrentInvocationLimitExceeded"
        assert error["message"] == "Rate Exceeded."
    finally:
        server.stop()
