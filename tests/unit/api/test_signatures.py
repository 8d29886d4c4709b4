"""The SigV4 authentication step: what passes unsigned, whom a signature names, and the codes of failures."""

from __future__ import annotations

import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lamina.api.pipeline import RequestView
from lamina.api.signatures import SigV4, exempt
from lamina.control.sts import Identity, _unrecognized
from lamina.errors import AuthenticationError
from lamina.identity import Caller

ALICE = Caller("000000000000", "arn:aws:iam::000000000000:user/alice", "AKIAALICE", authenticated=True, kind="user",
               user_name="alice")


def credentials(key, token):
    if key != "AKIAALICE":
        raise _unrecognized()
    return Identity("alice-secret", ALICE)


def view(method="GET", path="/2015-03-31/functions/", headers=None, query=b"", raw=None):
    return RequestView(method, path, query, {k.encode(): v.encode() for k, v in (headers or {}).items()},
                       "10.0.0.1", raw)


def signed(method, path, body=b"", key="AKIAALICE", secret="alice-secret", service="lambda"):
    request = AWSRequest(method=method, url=f"http://127.0.0.1:9001{path}", data=body)
    SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(request)
    headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.prepare().headers.items()}
    headers["host"] = "127.0.0.1:9001"
    return view(method, path.split("?")[0], headers, raw=path.split("?")[0].encode())


@pytest.mark.parametrize(("request_view", "passes"), [
    (view("GET", "/health"), True),
    (view("POST", "/health"), False),
    (view("GET", "/console"), True),
    (view("GET", "/console/app.js"), True),
    (view("POST", "/lambda-url/abc/"), True),
    (view("GET", "/", {"host": "abc.lambda-url.us-east-1.on.aws"}), True),
    (view("GET", "/2015-03-31/functions/"), False),
    (view("POST", "/"), False),
    (view("GET", "/metrics"), False),
])
def test_what_passes_unsigned(request_view, passes):
    assert exempt(request_view) is passes


def test_a_signed_request_is_its_signer_from_its_address_and_cached():
    step = SigV4("000000000000", credentials)
    request = signed("POST", "/2015-03-31/functions/f%3A1/invocations", b'{"a":1}')
    caller = step(request, b'{"a":1}')
    assert caller == Caller(**{**ALICE.__dict__, "source_ip": "10.0.0.1"})
    assert step(request, b'{"a":1}') is caller


@pytest.mark.parametrize(("mutate", "code", "query_code", "status"), [
    (lambda v, b: (v._replace(headers={k: val for k, val in v.headers.items() if k != b"authorization"}), b),
     "MissingAuthenticationTokenException", "MissingAuthenticationToken", 403),
    (lambda v, b: (v, b + b" "), "InvalidSignatureException", "SignatureDoesNotMatch", 403),
    (lambda v, b: (v._replace(headers={**v.headers, b"authorization": b"AWS4-HMAC-SHA256 Signature=x"}), b),
     "IncompleteSignatureException", "IncompleteSignature", 400),
])
def test_refusals(mutate, code, query_code, status):
    request, body = mutate(signed("POST", "/2015-03-31/functions/f/invocations", b"{}"), b"{}")
    with pytest.raises(AuthenticationError) as caught:
        SigV4("000000000000", credentials)(request, body)
    assert (caught.value.code, caught.value.query_code, caught.value.status) == (code, query_code, status)


def test_unknown_keys_and_stale_signatures():
    with pytest.raises(AuthenticationError) as caught:
        SigV4("000000000000", credentials)(signed("GET", "/2015-03-31/functions/", key="AKIAOTHER"), b"")
    assert caught.value.code == "UnrecognizedClientException"
    later = SigV4("000000000000", credentials, clock=lambda: time.time() + 301)
    with pytest.raises(AuthenticationError) as caught:
        later(signed("GET", "/2015-03-31/functions/"), b"")
    assert caught.value.code == "InvalidSignatureException" and caught.value.message.startswith("Signature expired:")
    iam_later = SigV4("000000000000", credentials, clock=lambda: time.time() + 600)  # IAM allows 15 minutes
    assert iam_later(signed("POST", "/", b"Action=ListRoles&Version=2010-05-08", service="iam"),
                     b"Action=ListRoles&Version=2010-05-08").user_name == "alice"


def test_unsigned_requests_are_refused_before_their_body():
    step = SigV4("000000000000", credentials)
    with pytest.raises(AuthenticationError) as caught:
        step.before_body(view("POST", "/2015-03-31/functions"))
    assert caught.value.code == "MissingAuthenticationTokenException"
    step.before_body(signed("POST", "/2015-03-31/functions", b"{}"))  # signed: read, then verified
    step.before_body(view("GET", "/health"))
    step.before_body(view("GET", "/2015-03-31/functions/", query=b"X-Amz-Signature=abc&X-Amz-Credential=x"))
