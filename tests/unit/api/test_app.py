"""lamina.api.app: every request, the Invoke fast lane included, passes the pipeline's identity
step, and every error path writes AWS's error through lamina.api.responses."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from lamina.api.app import Api, create_app
from lamina.errors import ResourceNotFoundException, TooManyRequestsException
from lamina.identity import Caller
from lamina.invoke import Invocation, Outcome

ACCOUNT = "000000000000"


class FakeInvoker:
    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[Invocation] = []
        self.fail = fail

    async def invoke(self, call: Invocation) -> Outcome:
        self.calls.append(call)
        if self.fail is not None:
            raise self.fail
        return Outcome(status=202, request_id="rid-1")


def broken_health() -> dict:
    raise RuntimeError("health is broken")


@pytest.fixture
def served():
    seen: list[tuple[str, str]] = []

    def authenticate(view, body) -> Caller:
        seen.append((view.method, view.path))
        return Caller(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/alice", access_key_id="AKIDALICE", authenticated=True)

    def build(invoker=None, health=lambda: {"status": "ok"}):
        control = SimpleNamespace(functions=SimpleNamespace(code=lambda code_hex: b"zip"))
        app = create_app(Api(control=control, max_timeout=900, health=health, authenticate=authenticate,
                             invoker=invoker))
        return TestClient(app, raise_server_exceptions=False)

    return SimpleNamespace(seen=seen, build=build)


def test_every_route_passes_the_identity_step(served):
    client = served.build(FakeInvoker())
    client.get("/health")
    client.post("/2015-03-31/functions/f/invocations", headers={"X-Amz-Invocation-Type": "Event"}, content=b"{}")
    client.get("/no/such/path")
    client.get("/_lamina/code/" + "0" * 64 + ".zip")
    assert served.seen == [("GET", "/health"), ("POST", "/2015-03-31/functions/f/invocations"),
                           ("GET", "/no/such/path"), ("GET", "/_lamina/code/" + "0" * 64 + ".zip")]


def test_the_fast_lane_hands_the_caller_on_in_the_invocation(served):
    invoker = FakeInvoker()
    response = served.build(invoker).post("/2015-03-31/functions/f/invocations?Qualifier=3",
                                          headers={"X-Amz-Invocation-Type": "Event"}, content=b'{"a":1}')
    assert (response.status_code, response.headers["x-amzn-requestid"]) == (202, "rid-1")
    (call,) = invoker.calls
    assert (call.function_name, call.qualifier, call.payload) == ("f", "3", b'{"a":1}')
    assert call.caller.access_key_id == "AKIDALICE" and call.caller.authenticated


@pytest.mark.parametrize(("error", "status", "code", "body"), [
    (ResourceNotFoundException("Function not found: f"), 404, "ResourceNotFoundException",
     {"Type": "User", "Message": "Function not found: f"}),
    (TooManyRequestsException("ConcurrentInvocationLimitExceeded"), 429, "TooManyRequestsException",
     {"Reason": "ConcurrentInvocationLimitExceeded", "Type": "User", "message": "Rate Exceeded."}),
    (RuntimeError("bug"), 500, "ServiceException",
     {"Type": "Service", "Message": "An internal error occurred in lamina; see its log."}),
])
def test_fast_lane_errors(served, error, status, code, body):
    response = served.build(FakeInvoker(fail=error)).post("/2015-03-31/functions/f/invocations", content=b"{}")
    assert (response.status_code, response.headers["x-amzn-errortype"], response.json()) == (status, code, body)
    assert response.headers["content-type"] == "application/json" and len(response.headers["x-amzn-requestid"]) == 36


def test_unknown_operations_and_methods_are_404_unknown_operation(served):
    client = served.build()
    for response in (client.get("/no/such/path"), client.delete("/health")):
        assert (response.status_code, response.headers["x-amzn-errortype"]) == (404, "UnknownOperationException")
        assert response.json()["Type"] == "User" and response.json()["message"].startswith("Unknown operation: ")
    bad_code = client.get("/_lamina/code/nothex.zip")
    assert (bad_code.status_code, bad_code.json()) == (404, {"Type": "User", "message": "Unknown operation"})


def test_an_internal_error_in_a_route_is_a_logged_500_service_exception(served, caplog):
    response = served.build(health=broken_health).get("/health")
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (500, "ServiceException")
    assert response.json() == {"Type": "Service", "Message": "An internal error occurred in lamina; see its log."}
    assert "health is broken" in caplog.text


def test_without_an_invoker_invoke_reaches_the_router_through_the_same_step(served):
    response = served.build().post("/2015-03-31/functions/f/invocations", content=b"{}")
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (404, "UnknownOperationException")
    assert served.seen == [("POST", "/2015-03-31/functions/f/invocations")]


class DryRunInvoker(FakeInvoker):
    async def invoke(self, call: Invocation) -> Outcome:
        self.calls.append(call)
        return Outcome(status=204, request_id="rid-1", executed_version="$LATEST")


def test_a_dry_run_answers_204_without_an_executed_version(served):
    response = served.build(DryRunInvoker()).post("/2015-03-31/functions/f/invocations", content=b"{}",
                                                  headers={"X-Amz-Invocation-Type": "DryRun"})
    assert response.status_code == 204
    assert "x-amz-executed-version" not in response.headers


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/2015-03-31/functions/f/"), ("GET", "/2015-03-31/functions//configuration"),
    ("POST", "/2015-03-31/functions/f/invocations/"), ("GET", "/health/"),
])
def test_trailing_slashes_and_empty_parameters_are_unknown_not_redirected(served, method, path):
    invoker = FakeInvoker()
    response = served.build(invoker).request(method, path, follow_redirects=False)
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (404, "UnknownOperationException")
    assert invoker.calls == []
