"""Temporary credentials (STS sessions) as sealed tokens: an ASIA… key id, a secret and a session
token that carries the session itself (role, session name, expiry) under an HMAC of lamina's
master key, so verifying a request signed with them needs no database read, and they survive a
restart as long as the master key (in the data dir) does.

The secret is derived from the master key and the token's contents, never stored. Pure: the
master key and the clock are passed in. Imports nothing from lamina.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class TokenError(Exception):
    """The session token is not one lamina issued (or was altered)."""


@dataclass(frozen=True)
class Session:
    access_key_id: str
    account_id: str
    role_name: str
    role_id: str
    session_name: str
    expiration: float  # epoch seconds


def random_id(prefix: str, length: int = 20) -> str:
    """An AWS-style identifier: `prefix` then upper-case letters and digits 2–7 (AKIA…, AROA…)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length - len(prefix)))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    def __init__(self, master_key: bytes) -> None:
        self._key = master_key

    def _mac(self, purpose: bytes, payload: bytes) -> bytes:
        return hmac.new(self._key, purpose + payload, hashlib.sha256).digest()

    def mint(self, account_id: str, role_name: str, role_id: str, session_name: str,
             expiration: float) -> tuple[str, str, str, Session]:
        """New temporary credentials: (access key id, secret, session token, session)."""
        session = Session(random_id("ASIA"), account_id, role_name, role_id, session_name, expiration)
        payload = json.dumps([session.access_key_id, account_id, role_name, role_id, session_name,
                              int(expiration)], separators=(",", ":")).encode()
        token = f"{_b64(payload)}.{_b64(self._mac(b'token:', payload))}"
        return session.access_key_id, self.secret(token), token, session

    def secret(self, token: str) -> str:
        """The secret access key that goes with `token` (40 characters, as AWS's)."""
        return base64.b64encode(self._mac(b"secret:", token.encode())[:30]).decode()

    def link(self, path: str, expires: int) -> str:
        """The query string that lets `path` be fetched without a signature until `expires` (epoch
        seconds), as an S3 presigned URL does for Lambda's Code.Location."""
        mac = _b64(self._mac(b"link:", f"{path}\n{expires}".encode()))
        return f"X-Lamina-Expires={expires}&X-Lamina-Signature={mac}"

    def link_valid(self, path: str, query: str, now: float) -> bool:
        fields = dict(part.partition("=")[::2] for part in query.split("&"))
        expires = fields.get("X-Lamina-Expires", "")
        if not expires.isdigit() or int(expires) < now:
            return False
        expected = _b64(self._mac(b"link:", f"{path}\n{int(expires)}".encode()))
        return hmac.compare_digest(expected, fields.get("X-Lamina-Signature", ""))

    def open(self, token: str) -> Session:
        """The session a token carries; TokenError when lamina did not issue it."""
        payload_text, dot, mac_text = token.partition(".")
        try:
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except (ValueError, TypeError):
            raise TokenError(token) from None
        if not dot or not hmac.compare_digest(mac, self._mac(b"token:", payload)):
            raise TokenError(token)
        key_id, account_id, role_name, role_id, session_name, expiration = json.loads(payload)
        return Session(key_id, account_id, role_name, role_id, session_name, float(expiration))
