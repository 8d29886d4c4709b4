"""Runtime contract kit: payloads, results, the context object and the environment a Python
handler sees (real engine, process backend, real bootstrap)."""

from __future__ import annotations

import json
import re

ECHO = """
def handler(event, context):
    return event
"""


def test_echo_round_trips_every_json_type(kit):
    payloads = [{"a": 1, "nested": {"list": [1, 2.5, "three", None, True, False]}}, [1, 2, 3], "a string", 42,
                3.25, True, False, None, {}, [], -7, 1e100, {"unicode": "héllo wörld ✓ 日本 🎉"}]

    async def scenario(k):
        spec = k.function(ECHO)
        for payload in payloads:
            result = await k.invoke(spec, json.dumps(payload).encode())
            assert result.function_error is None, result.payload
            assert result.content_type == "application/json"
            assert json.loads(result.payload) == payload
        assert len(k.streams()) == 1  # all of them on one warm environment
    kit(scenario)


def test_results_are_encoded_as_the_aws_runtime_does(kit, interpreter):
    code = """
    import decimal
    def none(event, context):
        return None
    def raw(event, context):
        return b"\\x00\\xffbinary"
    def decimals(event, context):
        return {"price": decimal.Decimal("1.50"), "big": decimal.Decimal("12345678901234567890.123"),
                "nan": decimal.Decimal("NaN")}
    def text(event, context):
        return {"t": "日本 ✓"}
    def spaced(event, context):
        return {"a": [1, 2], "b": "c"}
    """

    async def scenario(k):
        results = {}
        for name in ("none", "raw", "decimals", "text", "spaced"):
            results[name] = await k.invoke(k.function(code, f"app.{name}", name=name))
        assert results["none"].payload == b"null"
        assert results["raw"].payload == b"\x00\xffbinary"
        assert results["raw"].content_type == "application/unknown"
        assert results["decimals"].payload == b'{"price": 1.50, "big": 12345678901234567890.123, "nan": NaN}'
        assert results["spaced"].payload == b'{"a": [1, 2], "b": "c"}'
        if tuple(map(int, interpreter[0].removeprefix("python").split("."))) >= (3, 12):
            assert results["text"].payload == '{"t": "日本 ✓"}'.encode()
        else:
            assert results["text"].payload == b'{"t": "\\u65e5\\u672c \\u2713"}'
    kit(scenario)


def test_empty_payload_is_an_empty_object(kit):
    async def scenario(k):
        result = await k.invoke(k.function(ECHO), b"")
        assert result.payload == b"{}"
    kit(scenario)


def test_six_megabyte_payloads_round_trip(kit):
    async def scenario(k):
        spec = k.function(ECHO)
        payload = json.dumps("y" * 6_000_000).encode()
        result = await k.invoke(spec, payload)
        assert result.function_error is None
        assert result.payload == payload
    kit(scenario)


def test_response_over_the_limit_is_function_response_size_too_large(kit):
    code = """
    def handler(event, context):
        return "x" * event["n"]
    """

    async def scenario(k):
        spec = k.function(code)
        result = await k.invoke(spec, b'{"n": 6300000}', tail=True)
        assert result.function_error == "Unhandled"
        assert result.error_type == "Function.ResponseSizeTooLarge"
        assert json.loads(result.payload) == {
            "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
            "errorType": "Function.ResponseSizeTooLarge"}
        assert "Status: error\tError Type: Function.ResponseSizeTooLarge" in result.log_tail
        exactly = await k.invoke(spec, json.dumps({"n": 6_291_556 - 2}).encode())  # the quotes make it the limit
        assert exactly.function_error is None and len(exactly.payload) == 6_291_556
        assert (await k.invoke(spec, b'{"n": 3}')).payload == b'"xxx"'
    kit(scenario)


CONTEXT = """
import os, sys

def handler(event, context):
    identity = context.identity
    client = context.client_context
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
        "remaining_type": type(context.get_remaining_time_in_millis()).__name__,
        "identity": [identity.cognito_identity_id, identity.cognito_identity_pool_id],
        "client_context": None if client is None else {
            "custom": client.custom, "env": client.env,
            "client": None if client.client is None else client.client.installation_id},
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "path": sys.path,
    }
"""


def test_context_object_fields_and_types(kit):
    async def scenario(k):
        spec = k.function(CONTEXT, memory_mb=256, timeout_s=7)
        first = json.loads((await k.invoke(spec, request_id="req-ctx-1")).payload)
        assert first["function_name"] == "fn" and first["function_version"] == "$LATEST"
        assert first["invoked_function_arn"] == spec.function_arn
        assert first["memory_limit_in_mb"] == "256" and first["memory_type"] == "str"
        assert first["aws_request_id"] == "req-ctx-1"
        assert first["log_group_name"] == "/aws/lambda/fn"
        date, stream = first["log_stream_name"].rsplit("/", 1)
        assert len(date.split("/")) == 3 and stream.startswith("[$LATEST]") and len(stream) == len("[$LATEST]") + 32
        assert 6000 < first["remaining"] <= 7000 and first["remaining_type"] == "int"
        assert first["identity"] == [None, None] and first["client_context"] is None

        qualified = spec.function_arn + ":prod"
        second = json.loads((await k.invoke(
            spec, invoked_arn=qualified,
            client_context=json.dumps({"custom": {"k": "v"}, "env": {"e": "1"}, "client": {"installation_id": "i-1"}}),
            cognito_identity=json.dumps({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}),
        )).payload)
        assert second["invoked_function_arn"] == qualified
        assert second["client_context"] == {"custom": {"k": "v"}, "env": {"e": "1"}, "client": "i-1"}
        assert second["identity"] == ["id-1", "pool-1"]
    kit(scenario)


def test_environment_variables_are_lambdas_and_nothing_of_the_host(kit, monkeypatch, interpreter):
    monkeypatch.setenv("LAMINA_HOST_SECRET", "must-not-leak")

    async def scenario(k):
        spec = k.function(CONTEXT, memory_mb=512, environment={"GREETING": "hola", "LANG": "C.UTF-8",
                                                                 "AWS_REGION": "eu-west-1"})
        body = json.loads((await k.invoke(spec, trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"))
                          .payload)
        env = body["env"]
        assert "LAMINA_HOST_SECRET" not in env and "HOME" not in env
        assert not any(key.startswith("_LAMINA") for key in env)
        assert "AWS_LAMBDA_MAX_CONCURRENCY" not in env
        host, port = env["AWS_LAMBDA_RUNTIME_API"].split(":")  # set for every runtime, as on AWS
        assert host == "127.0.0.1" and int(port) > 0
        assert env["_HANDLER"] == "app.handler"
        assert env["AWS_REGION"] == "us-east-1" == env["AWS_DEFAULT_REGION"]  # reserved: the user's is ignored
        assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{interpreter[0]}"
        assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fn"
        assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
        assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
        assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
        assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/fn"
        assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == body["log_stream_name"]
        assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA") and len(env["AWS_ACCESS_KEY_ID"]) == 20
        assert len(env["AWS_SECRET_ACCESS_KEY"]) == 40 and env["AWS_SESSION_TOKEN"]
        assert env["LAMBDA_TASK_ROOT"] == str(spec.code_dir) == body["cwd"]
        assert env["LAMBDA_RUNTIME_DIR"] == env["PYTHONPATH"]  # the runtime image (process backend: host path)
        assert env["LAMBDA_RUNTIME_DIR"].startswith(str(k.root / "site")) and env["LAMBDA_RUNTIME_DIR"].endswith("python")
        assert env["TZ"] == ":UTC" and env["LANG"] == "C.UTF-8" and env["GREETING"] == "hola"
        assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9001"
        assert "/usr/bin/" in env["PATH"].split(":") and env["LD_LIBRARY_PATH"]
        assert env["_X_AMZN_TRACE_ID"] == "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
        traces = [json.loads((await k.invoke(spec)).payload)["env"]["_X_AMZN_TRACE_ID"] for _ in range(2)]
        assert traces[0] != traces[1]  # a fresh one per invoke when the caller sent none
        assert all(re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", t) for t in traces)
    kit(scenario)


def test_sys_path_puts_task_root_then_layers_then_runtime_packages(kit, tmp_path, interpreter):
    version = interpreter[0].removeprefix("python")
    first, second = tmp_path / "layer1", tmp_path / "layer2"
    (first / "python").mkdir(parents=True)
    (first / "python" / "shared.py").write_text("WHO = 'layer1'\n")
    (first / "python" / "only_first.py").write_text("WHO = 'first'\n")
    (second / "python" / "lib" / f"python{version}" / "site-packages").mkdir(parents=True)
    (second / "python" / "shared.py").write_text("WHO = 'layer2'\n")
    code = {"app.py": """
        import sys, shared, only_first, mine
        def handler(event, context):
            return {"path": sys.path, "shared": shared.WHO, "first": only_first.WHO, "mine": mine.WHO}
        """, "mine.py": "WHO = 'task'\n"}

    async def scenario(k):
        spec = k.function(code, layer_dirs=(first, second))
        body = json.loads((await k.invoke(spec)).payload)
        assert body["shared"] == "layer2"  # later layers overwrite earlier ones
        assert body["first"] == "first" and body["mine"] == "task"
        path = body["path"]
        assert path[0] == str(spec.code_dir)
        assert path[1:5] == [str(second / "python"), str(second / "python" / "lib" / f"python{version}" / "site-packages"),
                             str(first / "python"), str(first / "python" / "lib" / f"python{version}" / "site-packages")]
        # then the runtime image (PYTHONPATH, AWS's /var/runtime), once: not as the script's directory
        assert path[5].startswith(str(k.root / "site")) and path[5].endswith("python")
        assert path.count(path[5]) == 1
    kit(scenario)


def test_boto3_is_importable_and_points_at_lamina(kit):
    code = """
    import boto3
    def handler(event, context):
        client = boto3.client("lambda")
        return {"version": boto3.__version__, "endpoint": client.meta.endpoint_url,
                "region": client.meta.region_name, "origin": boto3.__file__}
    """

    async def scenario(k):
        result = await k.invoke(k.function(code))
        assert result.function_error is None, result.payload
        body = json.loads(result.payload)
        assert body["endpoint"] == "http://127.0.0.1:9001" and body["region"] == "us-east-1"
        assert body["origin"].startswith(str(k.root / "site"))
    kit(scenario)
