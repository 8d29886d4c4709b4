"""The event a function URL request becomes: API Gateway's payload format 2.0, exactly as Lambda
builds it for function URLs (reference 2.2, 2.3). Pure; imports nothing from lamina.

- headers: names lower-cased, repeated headers joined with `,`; the Cookie header moves to
  `cookies` (one `name=value` string each, absent when there are none); Lambda's front end adds
  `x-amzn-trace-id`, `x-forwarded-for`, `x-forwarded-port`, `x-forwarded-proto` (lamina speaks plain
  HTTP, so it adds no `x-amzn-tls-*` headers: it would be reporting a TLS session that did not exist);
- rawPath keeps the percent-encoding; queryStringParameters are decoded, repeated keys joined with
  `,`, and the key is absent when there is no query;
- body: absent when empty; text types pass as-is, everything else (a missing Content-Type too) is
  base64 with isBase64Encoded true;
- requestContext: accountId `anonymous` for AuthType NONE (the IAM caller's account for AWS_IAM,
  with `authorizer.iam`), apiId and domainPrefix = the URL id, routeKey and stage `$default`,
  `authentication` null (it carries an mTLS client certificate, which a function URL never has).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable
from urllib.parse import parse_qsl

TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")
TEXT_SUFFIXES = ("+json", "+xml")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def is_text(content_type: str | None) -> bool:
    """Whether a body of this Content-Type reaches the function as text (else base64)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith(TEXT_TYPES) or media.endswith(TEXT_SUFFIXES)


_last_time: tuple[int, str] = (-1, "")


def request_time(epoch_ms: int) -> str:
    """`12/Mar/2020:19:03:58 +0000` (the last second's text is reused: it is asked for per request)."""
    global _last_time
    second = epoch_ms // 1000
    if _last_time[0] == second:
        return _last_time[1]
    t = time.gmtime(second)
    text = f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    _last_time = (second, text)
    return text


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[dict[str, str], list[str]]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key == "cookie":
            cookies += [part.strip() for part in text.split(";") if part.strip()]
            continue
        headers[key] = f"{headers[key]},{text}" if key in headers else text
    return headers, cookies


def _query(raw_query: str) -> dict[str, str] | None:
    if not raw_query:
        return None
    out: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def build(*, method: str, raw_path: str, raw_query: str, headers: Iterable[tuple[bytes, bytes]], body: bytes,
          url_id: str, domain_name: str, source_ip: str, request_id: str, epoch_ms: int, trace_id: str,
          port: int, authorizer: dict | None = None, account_id: str = "anonymous") -> dict:
    """The 2.0 event of one request (`authorizer` is the `iam` member for AWS_IAM URLs)."""
    header_map, cookies = _headers(headers)
    header_map.setdefault("x-amzn-trace-id", trace_id)
    forwarded = header_map.get("x-forwarded-for")
    header_map["x-forwarded-for"] = f"{forwarded},{source_ip}" if forwarded else source_ip
    header_map["x-forwarded-port"] = str(port)
    header_map["x-forwarded-proto"] = "http"
    event: dict = {"version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": raw_query}
    if cookies:
        event["cookies"] = cookies
    event["headers"] = header_map
    query = _query(raw_query)
    if query is not None:
        event["queryStringParameters"] = query
    context: dict = {"accountId": account_id, "apiId": url_id, "authentication": None}  # mTLS only: never here
    if authorizer is not None:
        context["authorizer"] = {"iam": authorizer}
    context.update({
        "domainName": domain_name, "domainPrefix": url_id,
        "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                 "userAgent": header_map.get("user-agent", "")},
        "requestId": request_id, "routeKey": "$default", "stage": "$default",
        "time": request_time(epoch_ms), "timeEpoch": epoch_ms,
    })
    event["requestContext"] = context
    encoded = False
    if body:
        if is_text(header_map.get("content-type")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                encoded = True
        else:
            encoded = True
        if encoded:
            event["body"] = base64.b64encode(body).decode()
    event["isBase64Encoded"] = encoded
    return event


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode(event: dict) -> bytes:
    return _ENCODE(event).encode()
