"""Asynchronous invocation through boto3: durable queue, retries, destinations, concurrency."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, ROLE, LaminaProcess, client_for, make_zip

ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
APP = r'''
import json, time

def fail(event, context):
    print("ATTEMPT", context.aws_request_id)
    raise RuntimeError("always fails")

def ok(event, context):
    return {"got": event}

def record(event, context):
    print("RECORD " + json.dumps(event))
    return "stored"

def slow(event, context):
    time.sleep(event.get("seconds", 2))
    return "done"
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = LaminaProcess(tmp_path_factory.mktemp("async") / "data",
                            env={"LAMINA_ASYNC_BACKOFF_SCALE": "0.005"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def lam(server):
    client = client_for(server.url)
    for name, handler in (("fails", "app.fail"), ("works", "app.ok"), ("sink", "app.record"), ("slow", "app.slow")):
        client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler=handler, Timeout=10,
                               Code={"ZipFile": make_zip({"app.py": APP})})
        client.get_waiter("function_active_v2").wait(FunctionName=name)
    return client


def log_lines(server, group: str) -> list[str]:
    with sqlite3.connect(server.data_dir / "lamina.db") as db:
        return [m for (m,) in db.execute("SELECT message FROM log_events WHERE log_group = ? ORDER BY id", (group,))]


def records(server, timeout: float = 30.0, count: int = 1) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [json.loads(line[len("RECORD "):]) for line in log_lines(server, "/aws/lambda/sink")
                 if line.startswith("RECORD ")]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"the destination function received {len(found)} records, expected {count}")


def test_event_invoke_config_api(lam):
    response = lam.put_function_event_invoke_config(
        FunctionName="works", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=120,
        DestinationConfig={"OnSuccess": {"Destination": f"{ARN}:sink"}})
    assert response["FunctionArn"] == f"{ARN}:works:$LATEST"
    assert response["MaximumRetryAttempts"] == 1 and response["MaximumEventAgeInSeconds"] == 120
    assert response["DestinationConfig"] == {"OnSuccess": {"Destination": f"{ARN}:sink"}, "OnFailure": {}}
    updated = lam.update_function_event_invoke_config(FunctionName="works", MaximumRetryAttempts=0)
    assert updated["MaximumRetryAttempts"] == 0 and updated["MaximumEventAgeInSeconds"] == 120
    listed = lam.list_function_event_invoke_configs(FunctionName="works")["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [f"{ARN}:works:$LATEST"]
    with pytest.raises(ClientError) as info:
        lam.put_function_event_invoke_config(FunctionName="works")
    assert info.value.response["message"] == "You must specify at least one of error handling or destination setting."
    with pytest.raises(ClientError) as info:
        lam.put_function_event_invoke_config(FunctionName="works", DestinationConfig={
            "OnFailure": {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue"}})
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "only Lambda function destinations" in info.value.response["message"]
    with pytest.raises(ClientError) as info:
        lam.put_function_event_invoke_config(FunctionName="works", DestinationConfig={
            "OnFailure": {"Destination": f"{ARN}:works"}})
    assert info.value.response["message"] == "You can't specify the function as a destination for itself."
    with pytest.raises(ClientError) as info:
        lam.put_function_event_invoke_config(FunctionName="nobody", MaximumRetryAttempts=1)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    lam.delete_function_event_invoke_config(FunctionName="works")
    with pytest.raises(ClientError) as info:
        lam.get_function_event_invoke_config(FunctionName="works")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_failing_event_is_retried_then_sent_to_on_failure(lam, server):
    lam.put_function_event_invoke_config(FunctionName="fails", MaximumRetryAttempts=2,
                                         DestinationConfig={"OnFailure": {"Destination": f"{ARN}:sink"}})
    accepted = lam.invoke(FunctionName="fails", InvocationType="Event", Payload=b'{"order": 7}')
    assert accepted["StatusCode"] == 202
    request_id = accepted["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    record = next(r for r in records(server) if r["requestContext"]["requestId"] == request_id)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"] == f"{ARN}:fails:$LATEST"
    assert record["requestPayload"] == {"order": 7}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    attempts = [line for line in log_lines(server, "/aws/lambda/fails") if line == f"ATTEMPT {request_id}\n"]  # printed: keeps its newline
    assert len(attempts) == 3  # 1 + MaximumRetryAttempts, each with the same request id


def test_success_goes_to_on_success(lam, server):
    lam.put_function_event_invoke_config(FunctionName="works", DestinationConfig={
        "OnSuccess": {"Destination": f"{ARN}:sink"}})
    accepted = lam.invoke(FunctionName="works", InvocationType="Event", Payload=b'{"n": 1}')
    request_id = accepted["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        mine = [r for r in records(server) if r["requestContext"]["requestId"] == request_id]
        if mine:
            break
        time.sleep(0.2)
    assert mine[0]["requestContext"]["condition"] == "Success"
    assert mine[0]["responsePayload"] == {"got": {"n": 1}}


def test_reserved_concurrency_throttles_exactly_the_excess(lam):
    put = lam.put_function_concurrency(FunctionName="slow", ReservedConcurrentExecutions=2)
    assert put["ReservedConcurrentExecutions"] == 2
    assert lam.get_function_concurrency(FunctionName="slow")["ReservedConcurrentExecutions"] == 2
    assert lam.get_function(FunctionName="slow")["Concurrency"] == {"ReservedConcurrentExecutions": 2}
    settings = lam.get_account_settings()["AccountLimit"]
    assert settings["UnreservedConcurrentExecutions"] == settings["ConcurrentExecutions"] - 2

    def call(_):
        try:
            lam.invoke(FunctionName="slow", Payload=b'{"seconds": 2}')
            return "ok"
        except ClientError as error:
            return error.response["Reason"]

    with ThreadPoolExecutor(5) as pool:
        outcomes = list(pool.map(call, range(5)))
    assert outcomes.count("ok") == 2
    assert outcomes.count("ReservedFunctionConcurrentInvocationLimitExceeded") == 3
    with pytest.raises(ClientError) as info:
        lam.put_function_concurrency(FunctionName="slow", ReservedConcurrentExecutions=950)
    assert "below its minimum value of [100]" in info.value.response["message"]
    lam.put_function_concurrency(FunctionName="slow", ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName="slow", Payload=b"{}")
    assert info.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName="slow")
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="slow")


def test_async_payload_limit(lam):
    with pytest.raises(ClientError) as info:
        lam.invoke(FunctionName="works", InvocationType="Event", Payload=b'"' + b"x" * 1_048_576 + b'"')
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_queue_depth_and_age_are_series_of_the_function(lam, server):
    """An event held in the queue shows in /system/metrics as the function's depth and age (sampled every 5 s)."""
    import urllib.request

    lam.invoke(FunctionName="slow", InvocationType="Event", Payload=b'{"seconds": 8}')
    deadline, peak = time.monotonic() + 40, (0, 0.0)
    while time.monotonic() < deadline and not (peak[0] >= 1 and peak[1] > 0):
        time.sleep(0.5)
        with urllib.request.urlopen(server.url + "/system/metrics?function=slow&minutes=3", timeout=10) as response:
            series = json.loads(response.read())["series"]
        peak = (max(e["async_depth_max"] for e in series), max(e["async_age_ms_max"] for e in series))
    assert peak[0] >= 1 and peak[1] > 0, peak


def test_accepted_events_survive_sigkill(tmp_path):
    """2,000 Event invokes accepted while the server is killed partway: every accepted one runs."""
    data = tmp_path / "data"
    first = LaminaProcess(data).start()
    lam = client_for(first.url)
    lam.create_function(FunctionName="count", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    print('RAN', c.aws_request_id)\n"})})
    lam.get_waiter("function_active_v2").wait(FunctionName="count")
    accepted: list[str] = []

    def send(index: int) -> str | None:
        try:
            response = lam.invoke(FunctionName="count", InvocationType="Event", Payload=json.dumps({"i": index}).encode())
            return response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
        except Exception:
            return None

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(send, i) for i in range(2000)]
        for index, future in enumerate(futures):
            if index == 1200:
                first.stop(signal.SIGKILL)
            result = future.result()
            if result:
                accepted.append(result)
    assert 0 < len(accepted) < 2000
    second = LaminaProcess(data).start()
    try:
        deadline = time.monotonic() + 120
        ran: set[str] = set()
        while time.monotonic() < deadline:
            with sqlite3.connect(data / "lamina.db") as db:
                ran = {m.split()[1] for (m,) in db.execute(
                    "SELECT message FROM log_events WHERE log_group = '/aws/lambda/count' AND message LIKE 'RAN %'")}
            if set(accepted) <= ran:
                break
            time.sleep(0.5)
        missing = set(accepted) - ran
        assert not missing, f"{len(missing)} accepted events never ran"
    finally:
        second.stop()


def test_provisioned_concurrency_initialises_environments_ahead(lam):
    lam.create_function(FunctionName="warm", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": (
                            "import os\n"
                            "def handler(e, c):\n"
                            "    return os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\n")})})
    lam.get_waiter("function_active_v2").wait(FunctionName="warm")
    version = lam.publish_version(FunctionName="warm")["Version"]
    lam.create_alias(FunctionName="warm", Name="live", FunctionVersion=version)
    with pytest.raises(ClientError) as info:
        lam.put_provisioned_concurrency_config(FunctionName="warm", Qualifier="$LATEST",
                                               ProvisionedConcurrentExecutions=1)
    assert info.value.response["message"] == \
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
    with pytest.raises(ClientError) as info:
        lam.get_provisioned_concurrency_config(FunctionName="warm", Qualifier="live")
    assert info.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"
    put = lam.put_provisioned_concurrency_config(FunctionName="warm", Qualifier="live",
                                                 ProvisionedConcurrentExecutions=2)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["Status"] == "IN_PROGRESS" and put["RequestedProvisionedConcurrentExecutions"] == 2
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        config = lam.get_provisioned_concurrency_config(FunctionName="warm", Qualifier="live")
        if config["Status"] == "READY":
            break
        time.sleep(0.2)
    assert config["Status"] == "READY" and config["AvailableProvisionedConcurrentExecutions"] == 2
    listed = lam.list_provisioned_concurrency_configs(FunctionName="warm")["ProvisionedConcurrencyConfigs"]
    assert [c["FunctionArn"] for c in listed] == [f"{ARN}:warm:live"]
    response = lam.invoke(FunctionName="warm:live", Payload=b"{}", LogType="Tail")
    assert json.loads(response["Payload"].read()) == "provisioned-concurrency"
    import base64
    report = base64.b64decode(response["LogResult"]).decode()
    assert "REPORT RequestId" in report and "Init Duration" not in report
    # beyond the provisioned environments, invokes fall back to on-demand ones
    with ThreadPoolExecutor(3) as pool:
        kinds = list(pool.map(lambda _: json.loads(lam.invoke(FunctionName="warm:live", Payload=b"{}")
                                                   ["Payload"].read()), range(3)))
    assert "provisioned-concurrency" in kinds
    lam.delete_provisioned_concurrency_config(FunctionName="warm", Qualifier="live")
    assert lam.list_provisioned_concurrency_configs(FunctionName="warm")["ProvisionedConcurrencyConfigs"] == []


def test_event_older_than_its_maximum_age_goes_to_on_failure(lam, server):
    lam.create_function(FunctionName="aging", Runtime="python3.12", Role=ROLE, Handler="app.fail", Timeout=10,
                        Code={"ZipFile": make_zip({"app.py": APP})})
    lam.get_waiter("function_active_v2").wait(FunctionName="aging")
    # 60 s of event age, scaled like every delay by LAMINA_ASYNC_BACKOFF_SCALE (0.005 here): the first
    # retry (1 minute later, scaled) would already be past it.
    lam.put_function_event_invoke_config(FunctionName="aging", MaximumRetryAttempts=2, MaximumEventAgeInSeconds=60,
                                         DestinationConfig={"OnFailure": {"Destination": f"{ARN}:sink"}})
    accepted = lam.invoke(FunctionName="aging", InvocationType="Event", Payload=b'{"old": true}')
    request_id = accepted["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    deadline = time.monotonic() + 30
    mine = []
    while time.monotonic() < deadline and not mine:
        mine = [r for r in records(server) if r["requestContext"]["requestId"] == request_id]
        time.sleep(0.2)
    assert mine and mine[0]["requestContext"]["condition"] == "EventAgeExceeded"
    assert mine[0]["requestContext"]["functionArn"] == f"{ARN}:aging:$LATEST"
    assert mine[0]["requestPayload"] == {"old": True}
