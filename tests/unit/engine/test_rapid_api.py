"""rapid's pure parts: request routing, the Runtime API state machine, the extension registry,
error-type normalisation and telemetry subscription checks (reference 5.1–5.3)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src" / "lamina" / "runtimes" / "rapid"))

import rapid_api as api  # noqa: E402
import rapid_telemetry as telemetry  # noqa: E402


@pytest.mark.parametrize(("method", "path", "expected"), [
    ("GET", "/2018-06-01/runtime/invocation/next", ("next", None)),
    ("POST", "/2018-06-01/runtime/invocation/abc-1/response", ("response", "abc-1")),
    ("POST", "/2018-06-01/runtime/invocation/abc-1/error", ("error", "abc-1")),
    ("POST", "/2018-06-01/runtime/init/error", ("init_error", None)),
    ("POST", "/2020-01-01/extension/register", ("register", None)),
    ("GET", "/2020-01-01/extension/event/next?x=1", ("event_next", None)),
    ("PUT", "/2022-07-01/telemetry", ("telemetry", None)),
    ("PUT", "/2020-08-15/logs", ("logs", None)),
    ("GET", "/2018-06-01/runtime/invocation/abc/response", (None, None)),
    ("POST", "/nowhere", (None, None)),
])
def test_routes(method, path, expected):
    assert api.route(method, path) == expected


def test_runtime_state_machine():
    state = api.RuntimeState()
    assert state.answer("r1")[0] == 403  # nothing delivered during Init
    assert state.next() is None
    state.deliver("r1")
    assert state.next() == (403, {"errorType": "InvalidStateTransition", "errorMessage":
                                  "State transition from Running to Ready failed for runtime. "
                                  "Error: State transition is not allowed"})
    assert state.answer("other") == (400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"})
    assert state.answer("r1") is None
    assert state.answer("r1")[1]["errorType"] == "InvalidRequestID"  # already answered
    assert state.init_error()[0] == 403
    assert state.next() is None
    failed = api.RuntimeState()
    assert failed.init_error() is None and failed.next()[0] == 403


@pytest.mark.parametrize(("header", "body", "expected"), [
    (None, b'{"errorType": "ValueError", "errorMessage": "x"}', "ValueError"),
    ("Runtime.Custom", b"not json", "Runtime.Custom"),
    ("Function.lower", b"", "Function.Unknown"),
    ("whatever", b"", "Runtime.Unknown"),
    (None, b"", "Runtime.Unknown"),
])
def test_error_types(header, body, expected):
    assert api.error_type(header, body) == expected


def test_extension_registry():
    registry = api.Extensions("fn", "$LATEST", "app.handler")
    status, body, ext = registry.register("probe", b'{"events": ["INVOKE", "SHUTDOWN"]}')
    assert (status, body) == (200, {"functionName": "fn", "functionVersion": "$LATEST", "handler": "app.handler"})
    assert registry.register("", b"{}")[1]["errorType"] == "Extension.InvalidExtensionName"
    assert registry.register("bad", b'{"events": ["NOPE"]}')[1]["errorType"] == "Extension.InvalidEventType"
    assert registry.register("keys", b'{"configurationKeys": []}')[1]["errorType"] == "InvalidRequestFormat"
    assert registry.lookup(None)[1][1]["errorType"] == "Extension.MissingExtensionIdentifier"
    assert registry.lookup("zzz")[1][1]["errorType"] == "Extension.InvalidExtensionIdentifier"
    assert registry.lookup(ext.id) == (ext, None)
    assert not registry.ready()
    ext.ready = ext.waiting = True
    assert registry.ready() and registry.idle()
    assert registry.publish({"eventType": "INVOKE"}) == 1 and not registry.idle()
    registry.closed = True
    assert registry.register("late", b"{}")[1]["errorType"] == "Extension.RegistrationClosed"


@pytest.mark.parametrize("account, accept, expected", [
    ("123456789012", "accountId", "123456789012"),
    ("123456789012", "other, accountId", "123456789012"),  # a comma-separated list
    ("123456789012", None, None),  # only when asked for
    ("123456789012", "accountIds", None),
    ("", "accountId", None),  # no account known
])
def test_register_names_the_account_when_accepted(account, accept, expected):
    registry = api.Extensions("fn", "$LATEST", "app.handler", account)
    status, body, _ = registry.register("probe", b'{"events": ["INVOKE"]}', accept)
    assert status == 200 and body.get("accountId") == expected


def test_subscription_checks():
    good = {"schemaVersion": "2022-12-13", "types": ["platform"],
            "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:8080/t"}}
    settings, problem = telemetry.parse_subscription(json.dumps(good).encode())
    assert problem is None and settings["target"] == ("HTTP", "127.0.0.1", 8080, "/t")
    assert settings["maxItems"] == 1000 and settings["timeoutMs"] == 1000
    for change in ({"schemaVersion": "2020-01-01"}, {"types": []}, {"types": ["nope"]},
                   {"destination": {"protocol": "HTTPS", "URI": "https://x:1/"}}, {"buffering": {"timeoutMs": 5}}):
        assert telemetry.parse_subscription(json.dumps({**good, **change}).encode())[1][0] == 400
