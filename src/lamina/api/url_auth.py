"""Authorisation of function URLs: the one function that decides whether a request to a URL may
invoke it, and the `authorizer.iam` member an AWS_IAM URL's event carries (reference 2.1).

With `--auth sigv4` (`enforcing`):
- AWS_IAM: the request's SigV4 signature (service `lambda`, this region) is verified with `verify`
  (lamina.api.signatures.SigV4.verify), then the signer must be allowed `lambda:InvokeFunctionUrl` on
  the URL's (qualified) function ARN with `lambda:FunctionUrlAuthType=AWS_IAM`, by its identity
  policies or the function's resource policy (`check`, lamina.authz.Authorizer.check: same account,
  either allows, an explicit Deny wins). `authorizer.iam` names the verified signer.
- NONE: AWS still requires a resource-policy statement granting `lambda:InvokeFunctionUrl` to
  Principal `*` with `lambda:FunctionUrlAuthType=NONE` (`public`, Authorizer.allows_anyone).
Without auth, NONE URLs are open and AWS_IAM URLs need a signature of the right form
(`access_key_of`); when the key is one lamina issued (an IAM user's or a session's), the signature
is verified too, so a key lamina knows can never be used with a wrong secret. Every refusal is
`Forbidden`, which the URL lane answers with AWS's 403.
Imports lamina.identity, lamina.errors, lamina.model and lamina.api.pipeline (RequestView) only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl

from lamina.api.pipeline import RequestView
from lamina.errors import LambdaError
from lamina.identity import Caller
from lamina.model import LATEST, FunctionUrlConfig

# (request, body, the pipeline's caller, the URL) → the event's `iam` authorizer (None for a NONE
# URL), or raises Forbidden.
UrlAuthorizer = Callable[[RequestView, bytes, Caller, FunctionUrlConfig], "dict | None"]
Verify = Callable[[RequestView, bytes], Caller]  # raises LambdaError (AuthenticationError)
Check = Callable[[Caller, str, str, Mapping], object]  # None when allowed
Public = Callable[[str, str, Mapping], bool]  # (action, resource ARN, context) → allowed to anyone?
UNKNOWN_KEY = "UnrecognizedClientException"

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


def iam_member(access_key: str, signer: Caller) -> dict:
    """The event's `requestContext.authorizer.iam` for a request signed by `signer`."""
    user_id = signer.user_id or signer.account_id
    return {"accessKey": access_key, "accountId": signer.account_id, "callerId": user_id,
            "cognitoIdentity": None, "principalOrgId": None, "userArn": signer.principal_arn, "userId": user_id}


def function_arn(region: str, account_id: str, config: FunctionUrlConfig) -> str:
    """The ARN a URL invokes: qualified by its alias, unqualified for $LATEST."""
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{config.function_name}"
    return arn if config.qualifier == LATEST else f"{arn}:{config.qualifier}"


def url_authorizer(region: str, account_id: str, *, enforcing: bool, verify: Verify | None = None,
                   check: Check | None = None, public: Public | None = None) -> UrlAuthorizer:
    """The URL check of a deployment: with `enforcing` (auth on) `verify`, `check` and `public` are
    required; without, `verify` (optional) checks signatures of keys lamina issued."""
    if enforcing and (verify is None or check is None or public is None):
        raise ValueError("an enforcing URL authorizer needs verify, check and public")

    def signed(view: RequestView, body: bytes, caller: Caller) -> tuple[str, Caller]:
        key = access_key_of(view, region)  # service `lambda`, this region, the right form
        if verify is None:
            return key, caller
        try:
            return key, verify(view, body)
        except LambdaError as error:
            if not enforcing and getattr(error, "code", None) == UNKNOWN_KEY:
                return key, caller  # auth off and a key lamina never issued: the form is all there is to check
            raise Forbidden(error.message) from None

    def authorize(view: RequestView, body: bytes, caller: Caller, config: FunctionUrlConfig) -> dict | None:
        if config.auth_type == "AWS_IAM":
            key, signer = signed(view, body, caller)
            if enforcing and check(signer, "lambda", "InvokeFunctionUrl",  # type: ignore[misc]
                                   {"FunctionName": function_arn(region, account_id, config),
                                    "FunctionUrlAuthType": "AWS_IAM"}) is not None:
                raise Forbidden("not allowed lambda:InvokeFunctionUrl")
            return iam_member(key, signer)
        if enforcing:
            context = {"lambda:functionurlauthtype": "NONE"}
            if view.source_ip:
                context["aws:sourceip"] = view.source_ip
            if not public("lambda:InvokeFunctionUrl", function_arn(region, account_id, config),  # type: ignore[misc]
                          context):
                raise Forbidden("no resource-based policy allows anyone lambda:InvokeFunctionUrl")
        return None

    return authorize
