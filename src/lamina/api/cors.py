"""CORS of a function URL, from its Cors config (reference 2.6). Pure; imports nothing from lamina.

With Cors configured, an `OPTIONS` request carrying `Origin` and `Access-Control-Request-Method` is
a preflight answered by lamina itself (the function is not invoked); other responses get the
configured headers when the request's Origin is allowed (configured values replace any the
function set). Without an allowed Origin no CORS header is added.
"""

from __future__ import annotations

from collections.abc import Mapping

Headers = list[tuple[bytes, bytes]]
_CORS_NAMES = frozenset({b"access-control-allow-origin", b"access-control-allow-credentials",
                         b"access-control-expose-headers", b"access-control-allow-methods",
                         b"access-control-allow-headers", b"access-control-max-age"})


def _allowed_origin(cors: Mapping, origin: str | None) -> str | None:
    if not origin:
        return None
    origins = cors.get("AllowOrigins") or []
    if "*" in origins:
        return origin if cors.get("AllowCredentials") else "*"
    return origin if origin in origins else None


def is_preflight(cors: Mapping | None, method: str, headers: Mapping[bytes, bytes]) -> bool:
    return (cors is not None and method == "OPTIONS" and b"origin" in headers
            and b"access-control-request-method" in headers)


def _common(cors: Mapping, allowed: str) -> Headers:
    out = [(b"access-control-allow-origin", allowed.encode("latin-1", "replace"))]
    if cors.get("AllowCredentials"):
        out.append((b"access-control-allow-credentials", b"true"))
    return out


def preflight(cors: Mapping, headers: Mapping[bytes, bytes]) -> Headers:
    """The headers of the preflight answer (none when the Origin is not allowed)."""
    origin = headers.get(b"origin", b"").decode("latin-1")
    allowed = _allowed_origin(cors, origin)
    if allowed is None:
        return []
    out = _common(cors, allowed)
    if cors.get("AllowMethods"):
        out.append((b"access-control-allow-methods", ",".join(cors["AllowMethods"]).encode()))
    if cors.get("AllowHeaders"):
        out.append((b"access-control-allow-headers", ",".join(cors["AllowHeaders"]).encode()))
    if cors.get("ExposeHeaders"):
        out.append((b"access-control-expose-headers", ",".join(cors["ExposeHeaders"]).encode()))
    if cors.get("MaxAge") is not None:
        out.append((b"access-control-max-age", str(cors["MaxAge"]).encode()))
    return out


def apply(cors: Mapping | None, request_headers: Mapping[bytes, bytes], response_headers: Headers) -> Headers:
    """`response_headers` with the configured CORS headers for an allowed Origin."""
    if cors is None:
        return response_headers
    allowed = _allowed_origin(cors, request_headers.get(b"origin", b"").decode("latin-1") or None)
    if allowed is None:
        return response_headers
    out = [pair for pair in response_headers if pair[0] not in _CORS_NAMES]
    out += _common(cors, allowed)
    if cors.get("ExposeHeaders"):
        out.append((b"access-control-expose-headers", ",".join(cors["ExposeHeaders"]).encode()))
    return out
