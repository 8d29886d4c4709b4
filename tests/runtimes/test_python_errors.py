"""Runtime contract kit: every error kind has AWS's exact payload, and the function keeps working
after each of them."""

from __future__ import annotations

import json
import re

import pytest

APP = """
import os, signal, sys, time

def ok(event, context):
    return "fine"

def boom(event, context):
    raise ValueError("bad thing")

def nested(event, context):
    def inner():
        raise KeyError("missing")
    inner()

def unmarshal(event, context):
    return {1, 2}

def leave(event, context):
    sys.exit(3)

def vanish(event, context):
    os._exit(0)

def killed(event, context):
    os.kill(os.getpid(), signal.SIGKILL)

def sleepy(event, context):
    time.sleep(event.get("seconds", 5))
    return "woke"
"""


def test_handler_exception_payload_log_event_and_recovery(kit):
    async def scenario(k):
        spec = k.function(APP, "app.boom")
        result = await k.invoke(spec, request_id="req-boom", tail=True)
        assert result.function_error == "Unhandled" and result.error_type == "ValueError"
        body = json.loads(result.payload)
        assert list(body) == ["errorMessage", "errorType", "requestId", "stackTrace"]
        assert body["errorMessage"] == "bad thing" and body["errorType"] == "ValueError"
        assert body["requestId"] == "req-boom"
        assert body["stackTrace"] == [f'  File "{spec.code_dir / "app.py"}", line 8, in boom\n'
                                      '    raise ValueError("bad thing")\n']
        assert result.payload.startswith(b'{"errorMessage": "bad thing", "errorType": "ValueError"')
        error_events = [m for m in k.messages() if m.startswith("[ERROR]")]
        assert error_events == ["[ERROR] ValueError: bad thing\rTraceback (most recent call last):\r"
                                f'\u00a0\u00a0File "{spec.code_dir / "app.py"}", line 8, in boom\r'
                                '\u00a0\u00a0\u00a0\u00a0raise ValueError("bad thing")\n']  # AWS keeps the newline
        assert "REPORT RequestId: req-boom" in result.log_tail and "Status:" not in result.log_tail
        again = await k.invoke(spec)
        assert again.error_type == "ValueError" and len(k.streams()) == 1  # same environment, still warm
    kit(scenario)


def test_stack_trace_keeps_every_user_frame(kit):
    async def scenario(k):
        body = json.loads((await k.invoke(k.function(APP, "app.nested"))).payload)
        assert body["errorType"] == "KeyError" and body["errorMessage"] == "'missing'"
        assert [frame.split(", in ")[1].split("\n")[0] for frame in body["stackTrace"]] == ["nested", "inner"]
    kit(scenario)


def test_marshal_error(kit):
    async def scenario(k):
        spec = k.function(APP, "app.unmarshal")
        result = await k.invoke(spec, request_id="req-m")
        assert result.function_error == "Unhandled"
        assert json.loads(result.payload) == {
            "errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
            "errorType": "Runtime.MarshalError", "requestId": "req-m", "stackTrace": []}
        assert "[ERROR] Runtime.MarshalError: Unable to marshal response: Object of type set is not JSON " \
               "serializable\rTraceback (most recent call last):\n" in k.messages()
        assert (await k.invoke(spec)).error_type == "Runtime.MarshalError"
    kit(scenario)


INIT_CASES = [
    ("missing.handler", {"app.py": "x = 1\n"}, "Runtime.ImportModuleError",
     "Unable to import module 'missing': No module named 'missing'"),
    ("app.nothere", {"app.py": "x = 1\n"}, "Runtime.HandlerNotFound", "Handler 'nothere' missing on module 'app'"),
    ("app.handler", {"app.py": "def handler(:\n"}, "Runtime.UserCodeSyntaxError",
     "Syntax error in module 'app': "),
    ("nodot", {"app.py": "x = 1\n"}, "Runtime.MalformedHandlerName",
     "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"),
    ("sys.handler", {"app.py": "x = 1\n"}, "Runtime.BuiltInModuleConflict",
     "Cannot use built-in module sys as a handler module"),
    ("app.handler", {"app.py": "import nonexistent_dependency\n"}, "Runtime.ImportModuleError",
     "Unable to import module 'app': No module named 'nonexistent_dependency'"),
    ("app.handler", {"app.py": "raise RuntimeError('init went wrong')\n"}, "RuntimeError", "init went wrong"),
    ("pkg/mod.handler", {"pkg/__init__.py": "", "pkg/mod.py": "def handler(e, c):\n    return 'nested'\n"},
     None, None),
]


@pytest.mark.parametrize(("handler", "files", "error_type", "message"), INIT_CASES)
def test_init_errors_are_reported_by_every_invoke_until_fixed(kit, handler, files, error_type, message):
    async def scenario(k):
        spec = k.function(files, handler)
        for attempt in range(2):  # the environment is discarded and init is tried again
            result = await k.invoke(spec, request_id=f"req-{attempt}", tail=True)
            if error_type is None:
                assert result.function_error is None and result.payload == b'"nested"'
                continue
            assert result.function_error == "Unhandled" and result.error_type == error_type
            body = json.loads(result.payload)
            assert body["errorType"] == error_type and body["requestId"] == ""
            assert body["errorMessage"].startswith(message) if message.endswith(": ") else \
                body["errorMessage"] == message
            assert isinstance(body["stackTrace"], list)
            assert "INIT_REPORT Init Duration: " in result.log_tail
            assert f"Phase: init\tStatus: error\tError Type: {error_type}" in result.log_tail
            # tried again inside the event (suppressed init): the same failure, then the event's lines
            retried = f"Phase: invoke\tStatus: error\tError Type: {error_type}\nSTART RequestId: req-{attempt} "
            assert retried in result.log_tail
            assert f"[ERROR] {error_type}: " in result.log_tail
            assert "LAMBDA_WARNING: Unhandled exception." in result.log_tail
            assert f"END RequestId: req-{attempt}" in result.log_tail
        if error_type is not None:
            assert len(k.streams()) == 2  # one environment per attempt
            fixed = k.function({"app.py": "def handler(e, c):\n    return 'fixed'\n"})
            assert (await k.invoke(fixed)).payload == b'"fixed"'
    kit(scenario)


def test_syntax_error_trace_and_message(kit):
    async def scenario(k):
        spec = k.function({"app.py": "def handler(:\n"})
        body = json.loads((await k.invoke(spec)).payload)
        assert re.fullmatch(r"Syntax error in module 'app': invalid syntax \(app\.py, line 1\)", body["errorMessage"])
        assert body["stackTrace"] == [f'  File "{spec.code_dir / "app.py"}" Line 1\n    def handler(:\n']
    kit(scenario)


def test_timeout_kills_the_environment_and_the_next_invoke_starts_cold(kit):
    async def scenario(k):
        spec = k.function(APP, "app.sleepy", timeout_s=1)
        await k.invoke(spec, b'{"seconds": 0}')
        pid = k.pids()[0]
        result = await k.invoke(spec, b'{"seconds": 30}', request_id="req-slow", tail=True)
        assert result.function_error == "Unhandled" and result.error_type == "Sandbox.Timedout"
        assert result.payload == (b'{"errorMessage":"RequestId: req-slow Error: Task timed out after 1.00 seconds",'
                                  b'"errorType":"Sandbox.Timedout"}')
        assert 1000 <= result.duration_ms < 5000
        assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z req-slow Task timed out after 1\.\d\d seconds$",
                         result.log_tail, re.M)
        assert "\tStatus: timeout" in result.log_tail
        again = await k.invoke(spec, b'{"seconds": 0}', tail=True)
        assert again.function_error is None and again.payload == b'"woke"'
        assert again.init_ms is not None and "Init Duration" in again.log_tail
        assert pid not in k.pids()
    kit(scenario)


@pytest.mark.parametrize(("handler", "reason"), [
    ("app.leave", "Runtime exited with error: exit status 3"),
    ("app.vanish", "Runtime exited without providing a reason"),
    ("app.killed", "Runtime exited with error: signal: killed"),
])
def test_runtime_exit_is_an_exit_error_and_the_function_recovers(kit, handler, reason):
    async def scenario(k):
        spec = k.function(APP, handler)
        result = await k.invoke(spec, request_id="req-exit", tail=True)
        assert result.function_error == "Unhandled" and result.error_type == "Runtime.ExitError"
        assert json.loads(result.payload) == {"errorMessage": f"RequestId: req-exit Error: {reason}",
                                              "errorType": "Runtime.ExitError"}
        assert f"RequestId: req-exit Error: {reason}\nRuntime.ExitError\n" in result.log_tail
        assert "\tStatus: error\tError Type: Runtime.ExitError" in result.log_tail
        ok = k.function(APP, "app.ok")
        assert (await k.invoke(ok)).payload == b'"fine"'
        second = await k.invoke(spec)
        assert second.error_type == "Runtime.ExitError" and second.init_ms is not None
    kit(scenario)


def test_unparseable_client_context_is_a_context_unmarshal_error(kit):
    async def scenario(k):
        spec = k.function(APP, "app.ok")
        body = json.loads((await k.invoke(spec, client_context="{not json", request_id="r")).payload)
        assert body["errorType"] == "Runtime.LambdaContextUnmarshalError"
        assert body["errorMessage"].startswith("Unable to parse Client Context JSON: ")
        assert (await k.invoke(spec)).payload == b'"fine"'
    kit(scenario)


def test_missing_interpreter_is_an_invalid_entrypoint(kit):
    async def scenario(k):
        spec = k.function(APP, "app.ok", interpreter="/nonexistent/python3.12")
        result = await k.invoke(spec, request_id="req-x")
        assert result.error_type == "Runtime.InvalidEntrypoint"
        assert json.loads(result.payload) == {
            "errorMessage": "RequestId: req-x Error: fork/exec /nonexistent/python3.12: no such file or directory",
            "errorType": "Runtime.InvalidEntrypoint"}
        missing = await k.invoke(k.function(APP, "app.ok", interpreter=None), request_id="req-y")
        assert missing.error_type == "Runtime.InvalidEntrypoint"
    kit(scenario)
