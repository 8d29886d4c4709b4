"""The runtime contract kit: the same cases against every runtime lamina runs — the managed Python
runtime (frame protocol), and through rapid's Runtime API: awslambdaric (provided.al2023 with the
client vendored into the zip by pip), the shell + curl custom runtime of AWS's tutorial, and Node.js.
Real engine, real process backend, real bootstraps."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import pytest
from flavors import BASH_APP, BASH_BOOTSTRAP, ENV_KEYS, NODE_APP, PYTHON_APP, Flavor

FLAVORS = ["python", "awslambdaric", "bash", "node"]
SIX_MB = 6_000_000


@pytest.fixture(scope="session")
def ric_tree(tmp_path_factory, interpreter):
    """awslambdaric installed with pip for the kit's Python, once per session."""
    target = tmp_path_factory.mktemp("awslambdaric")
    out = subprocess.run([interpreter[1], "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          "--target", str(target), "awslambdaric"], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        pytest.skip(f"pip could not install awslambdaric: {out.stderr[-500:]}")
    return target


@pytest.fixture(params=FLAVORS)
def flavor(request, interpreter) -> Flavor:
    name = request.param
    if name == "python":
        return Flavor("python", interpreter[0], {"app.py": PYTHON_APP}, "app", "ValueError")
    if name == "awslambdaric":
        tree = request.getfixturevalue("ric_tree")
        return Flavor("awslambdaric", "provided.al2023",
                      # a custom runtime's PATH has only the OS's python3 (issue 21 item 11): the
                      # bootstrap names the interpreter awslambdaric was installed for
                      {"app.py": PYTHON_APP,
                       "bootstrap": f'#!/bin/sh\nexec {interpreter[1]} -m awslambdaric "$_HANDLER"\n'},
                      "app", "ValueError", executables=("bootstrap",),
                      trees={entry.name: entry for entry in tree.iterdir() if entry.name != "bin"})
    if name == "bash":
        if not shutil.which("curl"):
            pytest.skip("curl is not installed")
        return Flavor("bash", "provided.al2023", {"bootstrap": BASH_BOOTSTRAP, "function.sh": BASH_APP}, "function",
                      "Function.Failed", executables=("bootstrap",), suffix="_handler")
    node = shutil.which("node") or "/usr/bin/node"
    if not shutil.which(node):
        pytest.skip("node is not installed")
    return Flavor("node", "nodejs20.x", {"app.js": NODE_APP}, "app", "TypeError", executable=node)


def make(k, flavor: Flavor, case: str, **fields):
    spec = k.function(dict(flavor.files), flavor.handler(case), runtime=flavor.runtime,
                      executable=flavor.executable, **fields)
    flavor.write(spec.code_dir)
    return spec


def test_echo_on_a_warm_environment(kit, flavor):
    async def scenario(k):
        spec = make(k, flavor, "echo")
        for payload in ({"a": 1, "nested": {"list": [1, 2.5, "three", None, True]}}, [1, 2], "text", 42):
            result = await k.invoke(spec, json.dumps(payload).encode())
            assert result.function_error is None, result.payload
            assert json.loads(result.payload) == payload
        assert len(k.streams()) == 1
    kit(scenario)


def test_unicode_round_trips(kit, flavor):
    async def scenario(k):
        payload = {"text": "héllo wörld ✓ 日本 🎉", "ключ": "значение"}
        result = await k.invoke(make(k, flavor, "echo"), json.dumps(payload, ensure_ascii=False).encode())
        assert json.loads(result.payload) == payload
    kit(scenario)


def test_six_megabyte_payloads_and_a_response_over_the_limit(kit, flavor):
    async def scenario(k):
        payload = json.dumps({"data": "y" * SIX_MB}).encode()
        result = await k.invoke(make(k, flavor, "echo", name="echo"), payload)
        assert json.loads(result.payload) == {"data": "y" * SIX_MB}
        spec = make(k, flavor, "big", name="big")
        fits = await k.invoke(spec, b'{"size": 6291000}')
        assert fits.function_error is None and len(fits.payload) == 6291002
        over = await k.invoke(spec, b'{"size": 6400000}')
        assert (over.function_error, over.error_type) == ("Unhandled", "Function.ResponseSizeTooLarge")
        assert json.loads(over.payload) == {
            "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
            "errorType": "Function.ResponseSizeTooLarge"}
        await asyncio.sleep(0.3)  # awslambdaric exits when its response is refused; the next invoke re-inits
        again = await k.invoke(spec, b'{"size": 10}')
        assert json.loads(again.payload) == "x" * 10
    kit(scenario)


def test_environment_variables(kit, flavor):
    async def scenario(k):
        spec = make(k, flavor, "env", environment={"MY_VAR": "mine"}, memory_mb=256)
        result = await k.invoke(spec, json.dumps({"keys": ENV_KEYS}).encode())
        seen = json.loads(result.payload)
        assert seen["AWS_LAMBDA_FUNCTION_NAME"] == "fn" and seen["AWS_REGION"] == "us-east-1"
        assert seen["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256" and seen["MY_VAR"] == "mine"
        assert seen["_HANDLER"] == flavor.handler("env")
        if flavor.served_by_rapid:
            host, port = seen["AWS_LAMBDA_RUNTIME_API"].split(":")
            assert host == "127.0.0.1" and int(port) > 0
    kit(scenario)


def test_init_error(kit, flavor):
    async def scenario(k):
        spec = k.function(dict(flavor.files), "missing.handler", runtime=flavor.runtime, executable=flavor.executable)
        flavor.write(spec.code_dir)
        result = await k.invoke(spec, request_id="req-init")
        assert (result.function_error, result.error_type) == ("Unhandled", "Runtime.ImportModuleError"), (
            "\n".join(k.messages()))  # a string: shown whole, where a list's repr is cut short
        body = json.loads(result.payload)
        assert body["errorType"] == "Runtime.ImportModuleError" and "missing" in body["errorMessage"]
        # tried again inside the event in a fresh process (suppressed init), which fails the same way
        messages = k.messages()
        reports = [m.split("\t")[1:] for m in messages if m.startswith("INIT_REPORT Init Duration: ")]
        assert reports == [["Phase: init", "Status: error", "Error Type: Runtime.ImportModuleError"],
                           ["Phase: invoke", "Status: error", "Error Type: Runtime.ImportModuleError"]]
        platform = [m.split(" ")[0] for m in messages if m.startswith(("INIT_START", "INIT_REPORT", "START", "END", "REPORT"))]
        assert platform[-5:] == ["INIT_REPORT", "INIT_REPORT", "START", "END", "REPORT"]
        assert messages[-1].endswith("\tStatus: error\tError Type: Runtime.ImportModuleError")
        assert "Init Duration" not in messages[-1]
    kit(scenario)


def test_handler_error_keeps_the_environment(kit, flavor):
    async def scenario(k):
        spec = make(k, flavor, "fail")
        for _ in range(2):
            result = await k.invoke(spec)
            assert (result.function_error, result.error_type) == ("Unhandled", flavor.error_type)
            body = json.loads(result.payload)
            assert (body["errorType"], body["errorMessage"]) == (flavor.error_type, "boom")
        assert len(k.streams()) == 1
    kit(scenario)


def test_timeout_resets_the_environment(kit, flavor):
    async def scenario(k):
        spec = make(k, flavor, "sleep", timeout_s=1)
        result = await k.invoke(spec, b'{"seconds": 5}', request_id="req-slow")
        assert (result.function_error, result.error_type) == ("Unhandled", "Sandbox.Timedout")
        assert json.loads(result.payload)["errorMessage"] == \
            "RequestId: req-slow Error: Task timed out after 1.00 seconds"
        assert 1000 <= result.duration_ms < 1500
        assert any("req-slow Task timed out after 1.0" in m for m in k.messages())
        await k.invoke(make(k, flavor, "echo", timeout_s=1))
        assert len(k.streams()) == 2  # a new environment
    kit(scenario)


def test_exit_is_reported_as_runtime_exit_error(kit, flavor):
    async def scenario(k):
        spec = make(k, flavor, "exit")
        result = await k.invoke(spec, request_id="req-exit")
        assert (result.function_error, result.error_type) == ("Unhandled", "Runtime.ExitError")
        assert json.loads(result.payload) == {
            "errorMessage": "RequestId: req-exit Error: Runtime exited with error: exit status 3",
            "errorType": "Runtime.ExitError"}
    kit(scenario)


def test_large_log_output_arrives_whole_and_in_order(kit, flavor):
    async def scenario(k):
        spec = make(k, flavor, "flood")
        result = await k.invoke(spec, b'{"lines": 3000}', request_id="req-flood", tail=True)
        assert json.loads(result.payload) == "done"
        messages = k.messages()
        start = messages.index("START RequestId: req-flood Version: $LATEST")
        end = messages.index("END RequestId: req-flood")
        lines = messages[start + 1:end]
        assert len(lines) == 3000
        assert all(line.endswith(f"line {i}\n") for i, line in enumerate(lines))  # as AWS stores them
        assert result.log_tail.splitlines()[-1].startswith("REPORT RequestId: req-flood\t")
    kit(scenario)
