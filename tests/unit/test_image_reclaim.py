"""Reclaiming image roots: only roots no function names and no live environment runs on go, a
root a pull answered during a reclaim stays, and a root held by an environment goes on a later run."""

import json

from lamina.images.reclaim import Reclaimer
from lamina.images.store import ImageStore

A, B, C = "a" * 64, "b" * 64, "c" * 64


def _store(tmp_path, *digests) -> ImageStore:
    store = ImageStore(tmp_path / "images")
    for digest in digests:
        (store.root(digest) / "usr").mkdir(parents=True)
        (store.root(digest).parent / f"{digest}.json").write_text(json.dumps({"Env": []}))
    return store


def test_reclaim_removes_only_unused_roots(tmp_path):
    store = _store(tmp_path, A, B, C)
    assert store.reclaim(lambda: {A, C}) == [B]
    assert store.digests() == {A, C} and store.config(B) is None
    assert not [p for p in store.root(A).parent.iterdir() if p.name.startswith(".")]  # nothing left behind


def test_a_root_pulled_during_a_reclaim_is_kept(tmp_path):
    store = _store(tmp_path, A)
    clock = iter([10.0, 11.0])

    def in_use():  # a pull answers A while the reclaim asks who uses what
        store._fresh[A] = 10.5
        return set()

    assert store.reclaim(in_use, now=lambda: next(clock)) == []
    assert store.digests() == {A}


def test_the_reclaimer_waits_for_environments_and_pending_pulls(tmp_path):
    store = _store(tmp_path, A, B)
    named, live = {A}, {B}
    reclaimer = Reclaimer(store, named=lambda: set(named), live=lambda: set(live))
    assert reclaimer.run() == []  # nothing changed yet
    reclaimer.changed()
    assert reclaimer.run() == []  # B is not named but an environment still runs on it
    live.clear()
    assert reclaimer.run() == [B]  # due again while it was held
    assert reclaimer.run() == []
    named.clear()
    named.add("*")  # a pull is being recorded: nothing goes
    reclaimer.changed()
    assert reclaimer.run() == [] and store.digests() == {A}
    named.clear()
    assert reclaimer.run() == [A]
