"""The /health document: status, version, where the data lives, the sandbox backend and what it
does not enforce, and a few counts.

Built from callables it is handed (the store's usage, the engine's stats, the queue's depth), so it
imports nothing from lamina but the package version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lamina import __version__


@dataclass(frozen=True)
class Health:
    data_dir: str
    endpoint: str
    backend: str
    not_enforced: Callable[[], Sequence[str]]
    usage: Callable[[], tuple[int, int]]  # (functions, code bytes)
    engine_stats: Callable[[], dict]
    queued_events: Callable[[], int]
    region: str = ""
    account_id: str = ""
    mappings: Callable[[], dict] | None = None  # event source mappings: {"byState": {...}, "polling": n}

    def document(self) -> dict:
        count, size = self.usage()
        return {
            "status": "ok",
            "version": __version__,
            "dataDir": self.data_dir,
            "endpoint": self.endpoint,
            "region": self.region,
            "accountId": self.account_id,
            "sandbox": {"backend": self.backend, "notEnforced": list(self.not_enforced())},
            "counts": {"functions": count, "codeBytes": size,
                       **{k: v for k, v in self.engine_stats().items() if k != "backend"},
                       "queuedEvents": self.queued_events(),
                       **({"eventSourceMappings": self.mappings()} if self.mappings else {})},
        }
