"""The /health document: status, version, where the data lives, the sandbox backend, what it
does not enforce and the interpreters whose zygote runs, a few counts, and which of the offered
runtimes this host can run (the console's Create page lists them).

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
    lane_accepts: Callable[[], int] = lambda: 0  # Event invokes accepted without a coroutine (the lane)
    region: str = ""
    account_id: str = ""
    auth: str = "off"  # "sigv4", "none" (explicitly unauthenticated) or "off" (unauthenticated on loopback)
    auth_warning: str | None = None  # said when lamina serves a non-loopback address without authentication
    mappings: Callable[[], dict] | None = None  # event source mappings: {"byState": {...}, "polling": n}
    runtimes: Callable[[], dict[str, str | None]] = dict  # runtime → why it cannot run here (None: it can)
    nodes: Callable[[], list[dict]] | None = None  # cluster mode: the live nodes' latest beats
    leases: Callable[[], list[str]] | None = None  # cluster mode: the singleton leases this node holds
    zygotes: Callable[[], list[str]] = list  # interpreters whose zygote runs (environments fork from it)

    def document(self) -> dict:
        count, size = self.usage()
        return {
            "status": "ok",
            "version": __version__,
            "dataDir": self.data_dir,
            "endpoint": self.endpoint,
            "region": self.region,
            "accountId": self.account_id,
            "sandbox": {"backend": self.backend, "notEnforced": list(self.not_enforced()), "zygotes": self.zygotes()},
            "auth": {"mode": self.auth, **({"warning": self.auth_warning} if self.auth_warning else {})},
            "counts": {"functions": count, "codeBytes": size,
                       **{k: v for k, v in self.engine_stats().items() if k != "backend"},
                       "queuedEvents": self.queued_events(), "eventLaneAccepts": self.lane_accepts(),
                       **({"eventSourceMappings": self.mappings()} if self.mappings else {})},
            "runtimes": self.runtimes(),
            **({"nodes": self.nodes()} if self.nodes else {}),
            **({"leases": self.leases()} if self.leases else {}),
        }
