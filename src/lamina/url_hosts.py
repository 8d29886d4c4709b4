"""Where a function URL is reached: the host form `<url-id>.lambda-url.<region>.<host>[:port]` under
lamina's public URL, the path form `/lambda-url/<url-id>/...` that needs no DNS, and reading the URL
id back from a request's Host header or path. Pure; imports nothing from lamina.

AWS's URL is `https://<url-id>.lambda-url.<region>.on.aws/`. lamina's host form keeps the scheme
and port of its public URL; an IP address or `localhost` there becomes `localhost`, since
`*.localhost` resolves to loopback in browsers and curl (RFC 6761) while `*.127.0.0.1` resolves
nowhere.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import string
from urllib.parse import urlsplit

PATH_PREFIX = "/lambda-url/"
_ID_ALPHABET = string.ascii_lowercase + string.digits
_HOST = re.compile(rb"^([a-z0-9]{32})\.lambda-url\.[a-z0-9-]+\.")
_PATH = re.compile(r"^/lambda-url/([a-z0-9]{32})(/.*)?$", re.DOTALL)


def new_url_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))


def _base_host(hostname: str) -> str:
    try:
        ipaddress.ip_address(hostname)
        return "localhost"
    except ValueError:
        return hostname or "localhost"


def domain_name(base_url: str, url_id: str, region: str) -> str:
    """The URL's host name (no port): what requestContext.domainName reports."""
    return f"{url_id}.lambda-url.{region}.{_base_host(urlsplit(base_url).hostname or '')}"


def function_url(base_url: str, url_id: str, region: str) -> str:
    """FunctionUrl as lamina reports it: the host form under `base_url`, ending in `/`."""
    parts = urlsplit(base_url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or 'http'}://{domain_name(base_url, url_id, region)}{port}/"


def from_host(host: bytes | None) -> str | None:
    """The URL id a Host header names, if it is a function URL's host."""
    if not host:
        return None
    match = _HOST.match(host.lower())
    return match[1].decode() if match else None


def from_path(path: str) -> tuple[str, str] | None:
    """(URL id, the path the function sees) of a path-form request, if it is one."""
    if not path.startswith(PATH_PREFIX):
        return None
    match = _PATH.match(path)
    if match is None:
        return None
    return match[1], match[2] or "/"
