"""Placement policy: warm environments first, else the most free memory less what this front already
sent there; provisioned environments shared out evenly."""

from __future__ import annotations

import pytest

from lamina.cluster.placement import choose, shares


def _beat(worker: str, free: int) -> dict:
    return {"id": worker, "memory": {"freeMb": free}}


@pytest.mark.parametrize("workers, warm, pending, exclude, expected", [
    ([], {}, {}, set(), None),
    ([_beat("a", 100)], {}, {}, {"a"}, None),
    ([_beat("a", 100), _beat("b", 500)], {}, {}, set(), ("b", False)),
    ([_beat("a", 100), _beat("b", 500)], {"a": 1}, {}, set(), ("a", True)),
    ([_beat("a", 100), _beat("b", 500)], {"a": 1, "b": 2}, {}, set(), ("b", True)),
    ([_beat("a", 100), _beat("b", 500)], {"a": 0}, {}, set(), ("b", False)),
    ([_beat("a", 400), _beat("b", 500)], {}, {"b": 128}, set(), ("a", False)),
    ([_beat("a", 100), _beat("b", 500)], {"b": 3}, {}, {"b"}, ("a", False)),
    ([_beat("a", 500), _beat("b", 500)], {}, {}, set(), ("b", False)),  # ties: the larger id, stably
])
def test_choose(workers, warm, pending, exclude, expected):
    assert choose(workers, warm=warm, pending_mb=pending, exclude=exclude) == expected


def test_cold_placements_alternate_as_pending_memory_grows():
    workers, pending, picked = [_beat("a", 1000), _beat("b", 1000)], {}, []
    for _ in range(6):
        worker, _ = choose(workers, warm={}, pending_mb=pending)
        pending[worker] = pending.get(worker, 0) + 128
        picked.append(worker)
    assert picked.count("a") == picked.count("b") == 3


@pytest.mark.parametrize("count, workers, expected", [
    (0, ["a"], {"a": 0}),
    (5, [], {}),
    (5, ["b", "a"], {"a": 3, "b": 2}),
    (4, ["a", "b"], {"a": 2, "b": 2}),
    (1, ["c", "a", "b"], {"a": 1, "b": 0, "c": 0}),
])
def test_shares(count, workers, expected):
    assert shares(count, workers) == expected
