"""Download links for code with `--auth sigv4`: what AWS's `Code.Location` is, a presigned URL that
works without credentials for a short time (AWS: a presigned S3 URL valid 10 minutes).

`CodeLinks.query(code_hex)` gives `Expires=<epoch seconds>&Signature=<hex HMAC-SHA256>` for a code
blob; `valid(code_hex, expires, signature)` checks one (constant-time compare, not expired). The key
is derived from the data dir's master key, so links survive a restart and die with the key.
Pure apart from the injected clock. Imports nothing from lamina.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

TTL = 600  # seconds, as AWS's presigned Code.Location


class CodeLinks:
    def __init__(self, master_key: bytes, *, ttl: int = TTL, clock: Callable[[], float] = time.time) -> None:
        self._key = hmac.new(master_key, b"lamina code download links", hashlib.sha256).digest()
        self._ttl, self._clock = ttl, clock

    def _signature(self, code_hex: str, expires: int) -> str:
        return hmac.new(self._key, f"{code_hex}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def query(self, code_hex: str) -> str:
        expires = int(self._clock()) + self._ttl
        return f"Expires={expires}&Signature={self._signature(code_hex, expires)}"

    def valid(self, code_hex: str, expires: str | None, signature: str | None) -> bool:
        if not expires or not signature or not expires.isdigit() or len(expires) > 12:
            return False
        if int(expires) < self._clock():
            return False
        return hmac.compare_digest(self._signature(code_hex, int(expires)), signature)
