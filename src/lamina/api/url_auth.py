"""Authorisation of AWS_IAM function URLs: the one function that decides whether a request to such a
URL may invoke it, and the `authorizer.iam` member its event carries.

Until SigV4 verification lands in the request pipeline, `signature_form` checks the signature's
form only: an `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/lambda/aws4_request,
SignedHeaders=..., Signature=<64 hex>` header with an X-Amz-Date (or Date) header, or the presigned
query form (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders, X-Amz-Signature),
for this region and service `lambda`. Anything else is refused with AWS's 403. It does NOT check
the signature's value; the verifier replaces this function (server.py wires it).
Imports lamina.identity and lamina.api.pipeline (RequestView) only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from lamina.api.pipeline import RequestView
from lamina.identity import Caller

# Builds the `iam` authorizer of the event, or raises Forbidden.
UrlAuthorizer = Callable[[RequestView, Caller], dict]

_HEADER = re.compile(r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
                     r"SignedHeaders=(?P<signed>[a-z0-9;_.-]+),\s*Signature=(?P<signature>[0-9a-f]{64})\s*$")
_CREDENTIAL = re.compile(r"^(?P<key>[A-Za-z0-9]{16,128})/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/lambda/aws4_request$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


class Forbidden(Exception):
    """The request may not invoke the URL (answered with AWS's 403)."""


def _credential(value: str, region: str) -> str:
    match = _CREDENTIAL.match(value)
    if match is None or match["region"] != region:
        raise Forbidden(value)
    return match["key"]


def access_key_of(view: RequestView, region: str) -> str:
    """The access key id of a request signed (in form) for service `lambda` in `region`."""
    authorization = view.headers.get(b"authorization")
    if authorization is not None:
        match = _HEADER.match(authorization.decode("latin-1"))
        if match is None or "host" not in match["signed"].split(";"):
            raise Forbidden("malformed Authorization header")
        if b"x-amz-date" not in view.headers and b"date" not in view.headers:
            raise Forbidden("no X-Amz-Date")
        return _credential(match["credential"], region)
    query = dict(parse_qsl(view.query.decode("latin-1"), keep_blank_values=True))
    if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or not query.get("X-Amz-Date") \
            or "host" not in query.get("X-Amz-SignedHeaders", "").split(";") \
            or not _SIGNATURE.match(query.get("X-Amz-Signature", "")):
        raise Forbidden("not signed")
    return _credential(query.get("X-Amz-Credential", ""), region)


def signature_form(region: str) -> UrlAuthorizer:
    """The AWS_IAM check until SigV4 verification exists: the signature's form, and the caller the
    pipeline resolved as the identity."""

    def authorize(view: RequestView, caller: Caller) -> dict:
        key = access_key_of(view, region)
        return {"accessKey": key, "accountId": caller.account_id, "callerId": caller.account_id,
                "cognitoIdentity": None, "principalOrgId": None, "userArn": caller.principal_arn,
                "userId": caller.account_id}

    return authorize
