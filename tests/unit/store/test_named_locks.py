"""lamina.store.locks on SQLite: names hash to stable 64-bit keys, a thread re-enters a lock it holds,
and another thread waits its turn (tests/functional/test_concurrent_changes_postgresql.py checks the
advisory lock on PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from lamina.store import locks
from lamina.store.database import open_database


@pytest.mark.parametrize("name", ["function\x1ff", "iam", "", "layer\x1fl\x1f1"])
def test_keys_are_stable_signed_64_bit_integers(name):
    assert locks.key(name) == locks.key(name)
    assert -(2 ** 63) <= locks.key(name) < 2 ** 63


def test_different_names_have_different_keys():
    names = [f"function\x1ff{i}" for i in range(1000)]
    assert len({locks.key(name) for name in names}) == len(names)


def test_a_thread_reenters_what_it_holds_and_others_wait(db_url):
    engine = open_database(db_url)
    order: list[str] = []
    inside = threading.Event()
    with locks.held(engine, "function", "f"):
        with locks.held(engine, "function", "f"), locks.held(engine, "iam"):  # re-entered, and a second name
            order.append("nested")

        def other() -> None:
            inside.set()
            with locks.held(engine, "function", "f"):
                order.append("other")

        thread = threading.Thread(target=other)
        thread.start()
        inside.wait()
        order.append("holder")
    thread.join()
    assert order == ["nested", "holder", "other"]
    engine.dispose()
