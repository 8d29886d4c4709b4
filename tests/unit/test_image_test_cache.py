"""The test images' cached root tree (tests/images_support.cached_tree): runs sharing the cache
never see or remove each other's half-built tree, a complete one is reused, a leftover is replaced."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from images_support import cached_tree


def _slow_build(calls: list[str], barrier: threading.Barrier | None = None):
    def build(tree: Path) -> None:
        tree.mkdir(parents=True)
        (tree / "first").write_text(threading.current_thread().name)
        if barrier is not None:
            barrier.wait(timeout=10)  # every builder is halfway at once
        time.sleep(0.05)
        (tree / "second").write_text("done")
        calls.append(threading.current_thread().name)
    return build


def test_concurrent_builders_each_get_a_whole_tree(tmp_path):
    final = tmp_path / "cache" / "pyimage-k"
    calls: list[str] = []
    barrier = threading.Barrier(3)
    got: dict[str, tuple[str, str]] = {}

    def run() -> None:
        tree = cached_tree(final, _slow_build(calls, barrier))
        time.sleep(0.1)  # the others finish meanwhile: what this run got must still be whole
        got[threading.current_thread().name] = ((tree / "first").read_text(), (tree / "second").read_text())

    threads = [threading.Thread(target=run, name=f"b{i}") for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(calls) == ["b0", "b1", "b2"]
    assert len(got) == 3 and all(second == "done" for _, second in got.values())
    assert len({first for first, _ in got.values()}) == 1  # one tree won, and everyone uses it
    assert sorted(p.name for p in final.parent.iterdir()) == ["pyimage-k"]  # no staging left behind
    assert (final / ".complete").exists()


def test_a_complete_tree_is_reused_without_building(tmp_path):
    final = tmp_path / "pyimage-k"
    calls: list[str] = []
    first = cached_tree(final, _slow_build(calls))
    assert cached_tree(final, _slow_build(calls)) == first
    assert len(calls) == 1


def test_an_unfinished_leftover_is_replaced(tmp_path):
    final = tmp_path / "pyimage-k"
    (final / "rootfs").mkdir(parents=True)
    (final / "rootfs" / "half").write_text("")
    calls: list[str] = []
    tree = cached_tree(final, _slow_build(calls))
    assert sorted(p.name for p in tree.iterdir()) == ["first", "second"]
    assert (final / ".complete").exists()
