"""SigV4 verification: AWS's documented vectors, then requests signed by botocore's own signer."""

from __future__ import annotations

import datetime
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lamina import sigv4

SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"  # AWS's signature test suite and IAM examples


def test_signing_key_of_the_iam_example():
    # "Examples of how to derive a signing key for Signature Version 4" (AWS General Reference).
    key = sigv4.signing_key(SUITE_SECRET, "20150830", "us-east-1", "iam")
    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"


@pytest.mark.parametrize(("method", "path", "query", "headers", "signed", "body", "expected"), [
    # get-vanilla of AWS's signature v4 test suite
    ("GET", "/", "", {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"}, ("host", "x-amz-date"),
     b"", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    # post-vanilla
    ("POST", "/", "", {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"}, ("host", "x-amz-date"),
     b"", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    # get-vanilla-query-order-key-case: parameters sorted by name, then value
    ("GET", "/", "Param2=value2&Param1=value1", {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"},
     ("host", "x-amz-date"), b"", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
])
def test_aws_test_suite(method, path, query, headers, signed, body, expected):
    pairs = sigv4.query_pairs(query)
    request = sigv4.canonical_request(method, path, pairs, headers, signed, sigv4.EMPTY_SHA256)
    key = sigv4.signing_key(SUITE_SECRET, "20150830", "us-east-1", "service")
    text = sigv4.string_to_sign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", request)
    assert sigv4.sign(key, text) == expected


def test_s3_documented_get_object_string_to_sign():
    # The GET Object example of the S3 SigV4 documentation (header-based auth).
    headers = {"host": "examplebucket.s3.amazonaws.com", "range": "bytes=0-9",
               "x-amz-content-sha256": sigv4.EMPTY_SHA256, "x-amz-date": "20130524T000000Z"}
    # S3 does not encode the path twice; /test.txt has nothing to encode, so the forms agree.
    request = sigv4.canonical_request("GET", "/test.txt", [], headers, tuple(sorted(headers)), sigv4.EMPTY_SHA256)
    text = sigv4.string_to_sign("20130524T000000Z", "20130524/us-east-1/s3/aws4_request", request)
    assert text.rsplit("\n", 1)[1] == "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    key = sigv4.signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3")
    assert sigv4.sign(key, text) == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"


# ---- requests signed by botocore, as boto3 and the aws CLI send them --------------------------------

NOW = datetime.datetime(2026, 12, 4, 12, 0, 0, tzinfo=datetime.UTC)
SKEW = 300


def _signed(method, url, body=b"", headers=None, *, token=None, secret="s3cr3t", service="lambda", presign=None):
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    request.context["timestamp"] = NOW.strftime("%Y%m%dT%H%M%SZ")
    creds = Credentials("AKIAEXAMPLE000000001", secret, token)
    signer = SigV4QueryAuth(creds, service, "us-east-1", expires=presign) if presign else \
        SigV4Auth(creds, service, "us-east-1")
    # botocore takes its timestamp from the clock; freeze it through the request context it reads.
    import botocore.auth
    real = botocore.auth.datetime.datetime

    class Frozen(real):
        @classmethod
        def utcnow(cls):
            return NOW.replace(tzinfo=None)

        @classmethod
        def now(cls, tz=None):
            return NOW if tz else NOW.replace(tzinfo=None)

    botocore.auth.datetime.datetime = Frozen
    try:
        signer.add_auth(request)
    finally:
        botocore.auth.datetime.datetime = real
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    lower = {name.lower(): value.decode() if isinstance(value, bytes) else value
             for name, value in prepared.headers.items()}
    lower.setdefault("host", parts.netloc)
    return prepared.method, parts.path, parts.query, lower, prepared.body or b""


def _verify(method, path, query, headers, body, secret="s3cr3t", now=NOW):
    pairs = sigv4.query_pairs(query)
    signature = sigv4.parse(headers, pairs)
    assert signature is not None
    sigv4.check_time(signature, now.timestamp(), SKEW)
    sigv4.verify(signature, secret, method, path, pairs, headers, body)
    return signature


ARN_PATH = "http://127.0.0.1:9001/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/invocations"


@pytest.mark.parametrize(("method", "url", "body"), [
    ("GET", "http://127.0.0.1:9001/2015-03-31/functions/", b""),
    ("GET", "http://127.0.0.1:9001/2015-03-31/functions/?MaxItems=5&Marker=a%20b%2Bc", b""),
    ("POST", ARN_PATH, b'{"k": "v"}'),
    ("POST", "http://127.0.0.1:9001/", b"Action=ListRoles&Version=2010-05-08"),
    ("PUT", "http://[::1]:9001/2015-03-31/functions/f/code", b"\x00\xff" * 100),
])
def test_botocore_header_signatures_verify(method, url, body):
    signature = _verify(*_signed(method, url, body))
    assert (signature.access_key_id, signature.region, signature.service) == ("AKIAEXAMPLE000000001", "us-east-1",
                                                                                  "lambda")
    assert not signature.presigned


def test_session_token_is_read_and_signed():
    signature = _verify(*_signed("GET", "http://127.0.0.1:9001/2015-03-31/functions/", token="TOKEN/+="))
    assert signature.security_token == "TOKEN/+="


def test_presigned_query_form_verifies_and_expires():
    method, path, query, headers, body = _signed("GET", "http://127.0.0.1:9001/2015-03-31/functions/f", presign=60)
    headers.pop("authorization", None)
    signature = _verify(method, path, query, headers, body)
    assert signature.presigned and signature.expires == 60
    with pytest.raises(sigv4.SignatureError) as caught:
        _verify(method, path, query, headers, body, now=NOW + datetime.timedelta(seconds=61))
    assert caught.value.kind == sigv4.SKEW
    assert caught.value.message.startswith("Signature expired: 20261204T120100Z is now earlier than 20261204T120101Z")


@pytest.mark.parametrize("tamper", ["body", "path", "query", "header", "secret"])
def test_tampered_requests_do_not_verify(tamper):
    method, path, query, headers, body = _signed(
        "POST", "http://127.0.0.1:9001/2015-03-31/functions/f/invocations?Qualifier=1", b'{"a":1}',
        {"X-Amz-Invocation-Type": "Event"})
    secret = "s3cr3t"
    if tamper == "body":
        body = b'{"a":2}'
    elif tamper == "path":
        path = path.replace("/f/", "/g/")
    elif tamper == "query":
        query = "Qualifier=2"
    elif tamper == "header":
        headers["x-amz-invocation-type"] = "RequestResponse"
    else:
        secret = "other"
    with pytest.raises(sigv4.SignatureError) as caught:
        _verify(method, path, query, headers, body, secret=secret)
    assert (caught.value.kind, caught.value.message) == (sigv4.MISMATCH, sigv4.MISMATCH_MESSAGE)


@pytest.mark.parametrize(("offset", "message"), [
    (-301, "Signature not yet current: 20261204T120000Z is still later than 20261204T115959Z "
           "(20261204T115459Z + 5 min.)"),
    (301, "Signature expired: 20261204T120000Z is now earlier than 20261204T120001Z (20261204T120501Z - 5 min.)"),
])
def test_clock_skew(offset, message):
    with pytest.raises(sigv4.SignatureError) as caught:
        _verify(*_signed("GET", "http://127.0.0.1:9001/2015-03-31/functions/"),
                now=NOW + datetime.timedelta(seconds=offset))
    assert (caught.value.kind, caught.value.message) == (sigv4.SKEW, message)


def test_within_the_skew_is_fine():
    _verify(*_signed("GET", "http://127.0.0.1:9001/2015-03-31/functions/"), now=NOW + datetime.timedelta(seconds=299))


@pytest.mark.parametrize(("authorization", "headers", "message"), [
    ("AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc", {"x-amz-date": "20261204T120000Z"},
     "Authorization header requires 'Credential' parameter. "
     "Authorization=AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc"),
    ("AWS4-HMAC-SHA256 Credential=AK/20261204/us-east-1/lambda/aws4_request", {},
     "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
     "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
     "Authorization=AWS4-HMAC-SHA256 Credential=AK/20261204/us-east-1/lambda/aws4_request"),
])
def test_incomplete_authorization(authorization, headers, message):
    with pytest.raises(sigv4.SignatureError) as caught:
        sigv4.parse({"authorization": authorization, **headers}, [])
    assert (caught.value.kind, caught.value.message) == (sigv4.INCOMPLETE, message)


def test_unsigned_request_has_no_signature():
    assert sigv4.parse({"host": "h"}, [("Qualifier", "1")]) is None


def test_canonical_uri_encodes_the_sent_path_again():
    assert sigv4.canonical_uri("/2015-03-31/functions/arn%3Aaws%3Alambda/x") == \
        "/2015-03-31/functions/arn%253Aaws%253Alambda/x"


def test_signing_keys_are_cached():
    sigv4.signing_key.cache_clear()
    sigv4.signing_key("s", "20261204", "us-east-1", "lambda")
    sigv4.signing_key("s", "20261204", "us-east-1", "lambda")
    assert sigv4.signing_key.cache_info().hits == 1
