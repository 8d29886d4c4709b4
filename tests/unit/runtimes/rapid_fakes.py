"""What rapid's unit tests share: rapid's directory on sys.path (it runs inside the sandbox as
plain modules, not as lamina's package), and a channel to the engine that keeps what was sent."""

from __future__ import annotations

import sys
from pathlib import Path

RAPID = Path(__file__).resolve().parents[3] / "src" / "lamina" / "runtimes" / "rapid"
if str(RAPID) not in sys.path:
    sys.path.insert(0, str(RAPID))


class Channel:
    """The engine's end of rapid's channel: `sent` holds each frame as (kind, header, payload)."""

    def __init__(self) -> None:
        self.sent: list = []

    def send(self, kind, header=None, payload=b""):
        self.sent.append((kind, header, payload))

    def stream(self, data):
        pass

    @property
    def kinds(self) -> list:
        return [kind for kind, _, _ in self.sent]
