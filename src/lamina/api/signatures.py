"""The pipeline's authentication step with `--auth sigv4`: every request must carry a valid SigV4
signature (header or presigned query form) of a key lamina issued; the caller is whom the key
stands for (`credentials(access_key_id, session_token)`, lamina.control.sts).

Let through unsigned (as anonymous, unauthenticated callers): `GET /health`, function URL requests
(Host `*.lambda-url.*` or path `/lambda-url/…`: their handler decides by AuthType and calls `verify`
for AWS_IAM URLs), the console (`/console`, which keeps its own sign-in) and presigned code download
links (`/_lamina/code/…?Expires=…&Signature=…`, checked by the code route, lamina.code_links). The clock window is per service
(reference 4.13): 5 minutes for Lambda and the JSON services, 15 for IAM and STS. Failures become
AuthenticationError with AWS's codes per protocol (the pipeline writes them). Signing keys are cached
by lamina.sigv4; callers per (key, source IP), so a warm request builds no objects.
Imports lamina.sigv4, lamina.identity, lamina.errors, lamina.control.sts (Identity) and
lamina.api.pipeline only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import quote

from lamina import sigv4
from lamina.api.pipeline import RequestView
from lamina.control.sts import Identity
from lamina.errors import AuthenticationError
from lamina.identity import Caller, anonymous

SKEW = {"iam": 900, "sts": 900}  # seconds
DEFAULT_SKEW = 300
CACHED_CALLERS = 4096
# SignatureError kind → (rest-json / JSON 1.1 code, query code, status)
_CODES = {
    sigv4.INCOMPLETE: ("IncompleteSignatureException", "IncompleteSignature", 400),
    sigv4.MISMATCH: ("InvalidSignatureException", "SignatureDoesNotMatch", 403),
    sigv4.SKEW: ("InvalidSignatureException", "SignatureDoesNotMatch", 403),
}
MISSING = AuthenticationError("MissingAuthenticationTokenException", "MissingAuthenticationToken",
                              "Missing Authentication Token")


Credentials = Callable[[str, "str | None"], Identity]


def exempt(view: RequestView) -> bool:
    """Requests lamina answers without a signature even with auth on."""
    path = view.path
    if path == "/health" and view.method == "GET":
        return True
    if path == "/console" or path.startswith(("/console/", "/lambda-url/")):
        return True
    if path.startswith("/_lamina/code/") and (view.query.startswith(b"Signature=") or b"&Signature=" in view.query):
        return True  # a presigned code link (lamina.code_links): the code route checks it
    return b".lambda-url." in view.headers.get(b"host", b"")


class _Headers(dict):
    """The request's headers by lower-case text name, decoded only when SigV4 asks for one."""

    def __init__(self, raw) -> None:
        super().__init__()
        self._raw = raw

    def get(self, name: str, default=None):
        value = self._raw.get(name.encode("latin-1"))
        return default if value is None else value.decode("latin-1")


def _failure(error: sigv4.SignatureError) -> AuthenticationError:
    code, query_code, status = _CODES[error.kind]
    return AuthenticationError(code, query_code, error.message, status)


class SigV4:
    """`authenticate(view, body) -> Caller` for the pipeline, and `verify` for AWS_IAM function URLs."""

    def __init__(self, account_id: str, credentials: Credentials,
                 clock: Callable[[], float] = time.time) -> None:
        self._account_id = account_id
        self._credentials = credentials
        self._clock = clock
        self._callers: dict[tuple[Caller, str | None], Caller] = {}
        self._anonymous: dict[str | None, Caller] = {}

    def __call__(self, view: RequestView, body: bytes) -> Caller:
        if exempt(view):
            caller = self._anonymous.get(view.source_ip)
            if caller is None:
                if len(self._anonymous) >= CACHED_CALLERS:
                    self._anonymous.clear()
                caller = self._anonymous[view.source_ip] = anonymous(self._account_id, view.source_ip)
            return caller
        return self.verify(view, body)

    def verify(self, view: RequestView, body: bytes) -> Caller:
        """The caller who signed this request; AuthenticationError when it is unsigned or badly signed."""
        headers = _Headers(view.headers)
        pairs = sigv4.query_pairs(view.query.decode("latin-1")) if view.query else []
        try:
            signature = sigv4.parse(headers, pairs)
            if signature is None:
                raise MISSING
            identity = self._credentials(signature.access_key_id, signature.security_token)
            sigv4.check_time(signature, self._clock(), SKEW.get(signature.service, DEFAULT_SKEW))
            raw_path = view.raw_path.decode("latin-1") if view.raw_path else quote(view.path, safe="/~")
            sigv4.verify(signature, identity.secret, view.method, raw_path, pairs, headers, body)
        except sigv4.SignatureError as error:
            raise _failure(error) from None
        key = (identity.caller, view.source_ip)
        caller = self._callers.get(key)
        if caller is None:
            if len(self._callers) >= CACHED_CALLERS:
                self._callers.clear()
            caller = self._callers[key] = replace(identity.caller, source_ip=view.source_ip)
        return caller
