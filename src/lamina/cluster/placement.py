"""Which worker runs an invoke, and how provisioned environments are shared out: pure policy.

Warm affinity first: a worker known to hold an idle environment of the function version gets the
invoke (the one with the most such environments), so repeat invokes reuse one environment as on a
single node. Otherwise the worker with the most free memory, less the memory of environments this
front already sent it since its last beat, starts a new one: concurrent cold invokes spread over the
workers. Imports nothing from lamina.
"""

from __future__ import annotations


def free_mb(beat: dict) -> int:
    return int((beat.get("memory") or {}).get("freeMb", 0))


def choose(workers: list[dict], *, warm: dict[str, int], pending_mb: dict[str, int],
           exclude: frozenset[str] | set[str] = frozenset()) -> tuple[str, bool] | None:
    """(worker id, whether it holds a warm environment) among `workers` (their beats), or None.
    `warm`: worker id → idle environments of the version known there; `pending_mb`: worker id →
    memory of the environments this front placed there since its last beat."""
    candidates = [beat["id"] for beat in workers if beat["id"] not in exclude]
    if not candidates:
        return None
    warm_ones = [worker for worker in candidates if warm.get(worker, 0) > 0]
    if warm_ones:
        return max(warm_ones, key=lambda worker: (warm[worker], worker)), True
    memory = {beat["id"]: free_mb(beat) for beat in workers}
    return max(candidates, key=lambda worker: (memory[worker] - pending_mb.get(worker, 0), worker)), False


def shares(count: int, workers: list[str]) -> dict[str, int]:
    """Provisioned environments of one version over the workers (sorted ids): as even as can be,
    the first ones taking the remainder."""
    ordered = sorted(workers)
    if not ordered:
        return {}
    base, extra = divmod(count, len(ordered))
    return {worker: base + (1 if index < extra else 0) for index, worker in enumerate(ordered)}
