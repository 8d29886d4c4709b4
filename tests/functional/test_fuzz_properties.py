"""Property tests of the HTTP layer against one real server (issue 21, item 16): requests generated
by hypothesis from botocore's `lambda` and `logs` service models (boundary values, wrong JSON types,
unknown members, odd path parameters, broken bodies) never get a 5xx, never leave a traceback in
the server's log, and leave /health answering.

Deterministic (derandomize) and bounded (max_examples), so CI sees the same requests every run.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from urllib.parse import quote

import botocore.session
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamina.api.app import HANDLERS
from lamina.control.logs import Logs
from support import ROLE, make_zip

SETTINGS = settings(max_examples=500, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
CANARY = "fz"
SESSION = botocore.session.get_session()
LAMBDA = SESSION.get_service_model("lambda")
LOGS = SESSION.get_service_model("logs")
# Operations whose effects on the canary would start sandboxes by the dozen; they get other names.
HEAVY = frozenset({"PutProvisionedConcurrencyConfig"})
SEEN: Counter = Counter()  # (status, error code) of every answer, so the last test can show what was reached

INTEGERS = [0, 1, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 10**30]
STRINGS = ["", "a", "fz", "a" * 64, "a" * 65, "a" * 256, "a" * 2049, "\x00", "\ud800", "a\udfffb", "\U0001f4a5",
           "../../x.y", "app.handler\x00", "arn:aws:lambda:us-east-1:000000000000:function:fz", "%(a+)+$%",
           "arn:aws:lambda:us-east-1:000000000000:layer:l:99999999999999999999", "f/99999999999999999999"]
WRONG = [None, True, 1.5, "s", [], {}, [[[]]], {"a": {"b": []}}, 2**64]
BROKEN = [b"", b"{", b"[]", b"null", b"NaN", b'{"a":NaN}', b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b"[" * 1000,
          b"[" * 1000 + b"]" * 1000, b'{"a":"\\ud800"}', b"\x00" * 8, b'{"a":1e999}', b'{"a":' + b"9" * 5000 + b"}"]
PATH_PARAMS = ["", " ", CANARY, f"{CANARY}:1", f"{CANARY}:$LATEST", "a" * 200, "..", "%00", "%2F", "\U0001f4a5",
               "arn:aws:lambda:us-east-1:000000000000:function:fz", "99999999999999999999", "-1", "$LATEST"]


def scalar(shape) -> st.SearchStrategy:
    kind = shape.type_name
    if kind == "string":
        bounds = [shape.metadata.get("min"), shape.metadata.get("max")]
        lengths = {n + d for n in bounds if n is not None for d in (-1, 0, 1) if n + d >= 0 and n + d <= 5000}
        choices = STRINGS + ["x" * n for n in sorted(lengths)] + list(shape.enum[:3])
        return st.one_of(st.sampled_from(choices), st.text(max_size=12))
    if kind in ("integer", "long"):
        bounds = [shape.metadata.get("min"), shape.metadata.get("max")]
        edges = {n + d for n in bounds if n is not None for d in (-1, 0, 1)}
        return st.sampled_from(INTEGERS + sorted(edges))
    if kind == "double":
        return st.sampled_from([0.0, -1.0, 1e308, -1e308, 0.5, 2**53 + 1])
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.sampled_from([0, -1, 2**63 - 1, 2**63, 1.5, "2020-01-01T00:00:00Z", "x"])
    if kind == "blob":
        zipped = base64.b64encode(make_zip({"app.py": "def handler(e, c):\n    return e\n"})).decode()
        return st.sampled_from(["", "UEsDBA==", "!!not base64", zipped, base64.b64encode(b"\x00" * 64).decode()])
    return st.just(None)


def value(shape, depth: int = 0) -> st.SearchStrategy:
    wrong = st.sampled_from(WRONG)
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return st.just({})
        right = st.fixed_dictionaries({}, optional={name: value(member, depth + 1)
                                                    for name, member in shape.members.items()})
        right = right | st.builds(lambda d, extra: {**d, **extra}, right,
                                  st.dictionaries(st.sampled_from(["Unknown", "x", ""]), st.sampled_from(WRONG),
                                                  max_size=2))
    elif kind == "list":
        if depth > 3:
            return st.just([])
        right = st.lists(value(shape.member, depth + 1), max_size=3) | st.builds(
            lambda item, n: [item] * n, value(shape.member, depth + 1), st.sampled_from([50, 1001]))
    elif kind == "map":
        if depth > 3:
            return st.just({})
        right = st.dictionaries(scalar(shape.key), value(shape.value, depth + 1), max_size=3)
    else:
        right = scalar(shape)
    return st.one_of(right, right, right, wrong)


def operation_name(model, implemented) -> st.SearchStrategy[str]:
    """Mostly operations lamina implements (their requests get past routing), sometimes any other."""
    return st.one_of(*[st.sampled_from(sorted(implemented))] * 4, st.sampled_from(sorted(model.operation_names)))


@st.composite
def lambda_request(draw) -> tuple[str, str, dict, bytes]:
    operation = LAMBDA.operation_model(draw(operation_name(LAMBDA, {*HANDLERS, "Invoke"})))
    uri, _, literal = operation.http["requestUri"].partition("?")
    names = [p for p in PATH_PARAMS if not (operation.name in HEAVY and CANARY in p)]

    def fill(match: re.Match) -> str:
        name = draw(st.one_of(st.just(CANARY), st.sampled_from(names), st.text(max_size=8)))
        if operation.name in HEAVY and name == CANARY:
            name = "other"
        return quote(name, safe="" if match[2] == "" else "/:")

    path = re.sub(r"\{(\w+)(\+?)\}", fill, uri)
    shape = operation.input_shape
    query = [tuple(part.split("=", 1)) if "=" in part else (part, "") for part in literal.split("&") if part]
    headers = {}
    members = {}
    for name, member in (shape.members.items() if shape is not None else ()):
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            continue
        if not draw(st.booleans()):
            continue
        if location in ("querystring", "header"):
            text = str(draw(scalar(member) if member.type_name != "list" else scalar(member.member)))
            if location == "querystring":
                query.append((wire, text))
            else:
                headers[wire] = re.sub(r"[\x00-\x1f\x7f]", "", text.encode("ascii", "backslashreplace").decode())
        else:
            members[name] = draw(value(member))
    if operation.name == "Invoke" and CANARY in path:
        headers["X-Amz-Invocation-Type"] = draw(st.sampled_from(["RequestResponse", "DryRun", "Event"]))
    body = draw(st.sampled_from(BROKEN)) if draw(st.integers(0, 5)) == 0 else json.dumps(members).encode()
    query_text = "&".join(f"{quote(k, safe='')}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}"
                          for k, v in query)
    return operation.http["method"], path + ("?" + query_text if query_text else ""), headers, body


@st.composite
def logs_request(draw) -> tuple[str, bytes]:
    operation = LOGS.operation_model(draw(operation_name(LOGS, Logs.OPERATIONS)))
    target = operation.name if draw(st.integers(0, 9)) else draw(st.sampled_from(["", "Nope", "Logs.X"]))
    if draw(st.integers(0, 5)) == 0:
        return target, draw(st.sampled_from(BROKEN))
    return target, json.dumps(draw(value(operation.input_shape)) if operation.input_shape else {}).encode()


@pytest.fixture(scope="module")
def http(lamina, lam):
    lam.create_function(FunctionName=CANARY, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": "def handler(event, context):\n    return event\n"})})
    lam.get_waiter("function_active_v2").wait(FunctionName=CANARY)
    with httpx.Client(base_url=lamina.url, timeout=60) as client:
        yield client


def refused_politely(response: httpx.Response, request: str) -> None:
    SEEN[response.status_code, response.headers.get("x-amzn-errortype") or response.json().get("__type", "")
         if response.content and response.status_code >= 400 else ""] += 1
    assert response.status_code < 500, f"{request} -> {response.status_code} {response.text[:500]}"
    assert response.status_code not in (301, 302, 307, 308), request


@SETTINGS
@given(lambda_request())
def test_lambda_requests_never_get_a_5xx(http, sample):
    method, path, headers, body = sample
    response = http.request(method, path, headers={"Content-Type": "application/json", **headers}, content=body)
    refused_politely(response, f"{method} {path} {headers} {body[:300]!r}")


@SETTINGS
@given(logs_request())
def test_logs_requests_never_get_a_5xx(http, sample):
    target, body = sample
    response = http.post("/", content=body, headers={"X-Amz-Target": f"Logs_20140328.{target}",
                                                     "Content-Type": "application/x-amz-json-1.1"})
    refused_politely(response, f"Logs {target} {body[:300]!r}")


def test_the_server_logged_no_traceback_and_still_answers(lamina, http):
    print(sorted(SEEN.items()))
    # The generated requests reached past the decoders: some succeeded, some failed validation.
    assert any(status < 300 for status, _ in SEEN), SEEN
    assert any(code in ("ValidationException", "InvalidParameterException") for _, code in SEEN), SEEN
    assert http.get("/health", timeout=10).status_code == 200
    log = lamina.output.read_text(errors="replace")
    assert "Traceback" not in log
    assert "internal error" not in log
