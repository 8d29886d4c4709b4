"""The console's sign-in sessions with `--auth sigv4`: who is signed in, held in server memory only.

A session is opened after the access key pair was proven by a signed STS GetCallerIdentity; its id is
32 random bytes (URL-safe text) that travel only in an HttpOnly, SameSite=Strict cookie. The secret
stays in this process's memory: never in the browser, never on disk, gone at restart or sign-out.
A session expires `ttl` seconds after it was opened (a new sign-in is asked for) and is dropped when
idle longer than `idle`; the oldest sessions are dropped past `limit`. Pure bookkeeping with an
injected clock. Imports nothing from lamina.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "lamina_console"
TTL = 8 * 3600.0  # seconds a sign-in lasts
IDLE = 3600.0  # seconds without a request after which a session ends
LIMIT = 1024


@dataclass
class Session:
    access_key_id: str
    secret_access_key: str
    session_token: str | None
    arn: str  # who signed in, as GetCallerIdentity answered
    opened: float
    seen: float


class Sessions:
    def __init__(self, *, ttl: float = TTL, idle: float = IDLE, limit: int = LIMIT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._idle, self._limit, self._clock = ttl, idle, limit, clock
        self._open: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, access_key_id: str, secret_access_key: str, session_token: str | None, arn: str) -> str:
        """A new session's id."""
        now = self._clock()
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._expire(now)
            while len(self._open) >= self._limit:
                self._open.pop(next(iter(self._open)))
            self._open[session_id] = Session(access_key_id, secret_access_key, session_token, arn, now, now)
        return session_id

    def get(self, session_id: str | None) -> Session | None:
        """The live session of an id (its idle timer restarts), else None."""
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._open.get(session_id)
            if session is None:
                return None
            if now - session.opened >= self._ttl or now - session.seen >= self._idle:
                del self._open[session_id]
                return None
            session.seen = now
            return session

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._open.pop(session_id or "", None)

    def __len__(self) -> int:
        return len(self._open)

    def _expire(self, now: float) -> None:
        for session_id in [k for k, s in self._open.items()
                           if now - s.opened >= self._ttl or now - s.seen >= self._idle]:
            del self._open[session_id]
