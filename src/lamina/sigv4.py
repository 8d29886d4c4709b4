"""AWS Signature Version 4, as a verifier: parsing a request's signature (the Authorization header or
the presigned query form), the canonical request, the string to sign, the derived signing key and
the checks of the clock and of a presigned URL's expiry.

Pure: no I/O, no clock (callers pass `now`), no key store (callers pass the secret of the key the
signature names). Failures raise `SignatureError` with a `kind` (KINDS) and AWS's text; the HTTP
layer picks the error code of the protocol the request speaks. Derived signing keys are cached per
(secret, date, region, service), as AWS clients cache them: one HMAC instead of five per request.
Imports nothing from lamina.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_PRESIGNED_EXPIRES = 604_800  # 7 days
# Failure kinds; the HTTP layer maps each to a code per protocol.
INCOMPLETE, MISMATCH, SKEW, MISSING = "incomplete", "mismatch", "skew", "missing"
MISMATCH_MESSAGE = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                    "Secret Access Key and signing method. Consult the service documentation for details.")
_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_DATE = re.compile(r"\d{8}T\d{6}Z")
_PRESIGN = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")
_SPACES = re.compile(r"\s+")


class SignatureError(Exception):
    """The request's signature is absent, malformed, stale or wrong."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Signature(NamedTuple):
    """What a request claims: whose key, for which scope, over which headers, and the signature."""

    access_key_id: str
    date: str  # YYYYMMDD of the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str  # YYYYMMDDTHHMMSSZ
    security_token: str | None = None
    expires: int | None = None  # seconds, presigned form only

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"

    @property
    def presigned(self) -> bool:
        return self.expires is not None


def query_pairs(query: str) -> list[tuple[str, str]]:
    """The decoded (name, value) pairs of a raw query string (`+` is a literal plus, as SigV4 reads it)."""
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _incomplete(header: str, missing: list[str]) -> SignatureError:
    text = " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
    return SignatureError(INCOMPLETE, f"{text} Authorization={header}")


def parse(headers: Mapping[str, str], query: list[tuple[str, str]]) -> Signature | None:
    """The signature a request carries (`headers` with lower-case names), None when it carries none."""
    authorization = headers.get("authorization")
    if authorization is not None:
        return _parse_header(authorization, headers)
    params = dict(query)
    if "X-Amz-Signature" in params or "X-Amz-Credential" in params or "X-Amz-Algorithm" in params:
        return _parse_query(params)
    return None


def _parse_header(authorization: str, headers: Mapping[str, str]) -> Signature:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError(INCOMPLETE, f"Unsupported signing algorithm in Authorization header: {algorithm}"
                             if algorithm.startswith("AWS") else
                             f"Authorization header requires 'Credential' parameter. Authorization={authorization}")
    fields = {}
    for part in rest.split(","):
        name, eq, value = part.strip().partition("=")
        if eq:
            fields[name] = value
    missing = [name for name in ("Credential", "Signature", "SignedHeaders") if not fields.get(name)]
    amz_date = headers.get("x-amz-date")
    if missing or amz_date is None:
        text = " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        if amz_date is None:
            text += (" " if text else "") + \
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        raise SignatureError(INCOMPLETE, f"{text} Authorization={authorization}")
    return _signature(fields["Credential"], fields["SignedHeaders"], fields["Signature"], amz_date,
                      headers.get("x-amz-security-token"), None)


def _parse_query(params: dict[str, str]) -> Signature:
    missing = [name for name in _PRESIGN if not params.get(name)]
    if missing:
        raise SignatureError(INCOMPLETE, "AWS query-string parameters must include "
                             + ", ".join(f"'{name}'" for name in missing) + ". Re-examine the query-string parameters.")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise SignatureError(INCOMPLETE, f"Unsupported signing algorithm: {params['X-Amz-Algorithm']}")
    expires_text = params.get("X-Amz-Expires", "")
    if not expires_text.isdigit() or not 1 <= int(expires_text) <= MAX_PRESIGNED_EXPIRES:
        raise SignatureError(INCOMPLETE, "X-Amz-Expires must be a number of seconds between 1 and 604800.")
    return _signature(params["X-Amz-Credential"], params["X-Amz-SignedHeaders"], params["X-Amz-Signature"],
                      params["X-Amz-Date"], params.get("X-Amz-Security-Token"), int(expires_text))


def _signature(credential: str, signed: str, signature: str, amz_date: str, token: str | None,
               expires: int | None) -> Signature:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise SignatureError(INCOMPLETE, f"Credential should be scoped to a valid region. Credential={credential}"
                             if len(parts) == 5 else
                             f"Credential should be scoped to correct service. Credential={credential}")
    if not _DATE.fullmatch(amz_date):
        raise SignatureError(INCOMPLETE, f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See "
                             "http://en.wikipedia.org/wiki/ISO_8601")
    if parts[1] != amz_date[:8]:
        raise SignatureError(MISMATCH, f"Credential should be scoped to a valid date: {parts[1]} != {amz_date[:8]}")
    return Signature(parts[0], parts[1], parts[2], parts[3], tuple(signed.split(";")), signature, amz_date,
                     token, expires)


def canonical_uri(raw_path: str) -> str:
    """The path as sent (still percent-encoded), encoded once more: every service but S3 does."""
    return quote(raw_path or "/", safe="/~")


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    encoded = sorted((quote(name, safe="-_.~"), quote(value, safe="-_.~")) for name, value in pairs
                     if name != "X-Amz-Signature")
    return "&".join(f"{name}={value}" for name, value in encoded)


def _header_value(value: str) -> str:
    """Trimmed, runs of white space as one space."""
    value = value.strip()
    return _SPACES.sub(" ", value) if "  " in value or "\t" in value or "\n" in value else value


def canonical_request(method: str, raw_path: str, pairs: list[tuple[str, str]], headers: Mapping[str, str],
                      signed_headers: tuple[str, ...], payload_hash: str) -> str:
    lines = [f"{name}:{_header_value(headers.get(name, ''))}\n" for name in signed_headers]
    return "\n".join((method, canonical_uri(raw_path), canonical_query(pairs), "".join(lines),
                      ";".join(signed_headers), payload_hash))


def string_to_sign(amz_date: str, scope: str, request: str) -> str:
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"


@functools.lru_cache(maxsize=1024)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def sign(key: bytes, text: str) -> str:
    return hmac.digest(key, text.encode(), "sha256").hex()


def _stamp(epoch: float) -> str:
    return time.strftime(_AMZ_DATE, time.gmtime(epoch))


@functools.lru_cache(maxsize=64)
def signed_at(amz_date: str) -> int:
    """YYYYMMDDTHHMMSSZ (already matched by _DATE) in epoch seconds; requests of one second share it."""
    try:
        moment = datetime.datetime(int(amz_date[0:4]), int(amz_date[4:6]), int(amz_date[6:8]), int(amz_date[9:11]),
                                   int(amz_date[11:13]), int(amz_date[13:15]), tzinfo=datetime.UTC)
    except ValueError:
        raise SignatureError(INCOMPLETE, f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See "
                             "http://en.wikipedia.org/wiki/ISO_8601") from None
    return int(moment.timestamp())


def check_time(signature: Signature, now: float, skew: int) -> None:
    """The signing time within `skew` seconds of `now` (epoch seconds; header form), or a presigned URL
    not yet expired."""
    at = signed_at(signature.amz_date)
    minutes = skew // 60
    if at > now + skew:
        raise SignatureError(SKEW, f"Signature not yet current: {signature.amz_date} is still later than "
                             f"{_stamp(now + skew)} ({_stamp(now)} + {minutes} min.)")
    if signature.presigned:
        expiry = at + (signature.expires or 0)
        if now > expiry:
            raise SignatureError(SKEW, f"Signature expired: {_stamp(expiry)} is now earlier than {_stamp(now)} "
                                 f"({signature.amz_date} + {signature.expires} sec.)")
    elif at < now - skew:
        raise SignatureError(SKEW, f"Signature expired: {signature.amz_date} is now earlier than {_stamp(now - skew)} "
                             f"({_stamp(now)} - {minutes} min.)")


def verify(signature: Signature, secret: str, method: str, raw_path: str, pairs: list[tuple[str, str]],
           headers: Mapping[str, str], body: bytes) -> None:
    """Recompute the signature with `secret` and compare it with the one sent (MISMATCH when they differ)."""
    if "host" not in signature.signed_headers:
        raise SignatureError(MISMATCH, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256  # services but S3 sign the payload
    request = canonical_request(method, raw_path, pairs, headers, signature.signed_headers, payload_hash)
    key = signing_key(secret, signature.date, signature.region, signature.service)
    expected = sign(key, string_to_sign(signature.amz_date, signature.scope, request))
    if not hmac.compare_digest(expected, signature.signature):
        raise SignatureError(MISMATCH, MISMATCH_MESSAGE)
