"""The test tree itself: pytest imports test modules by basename (no packages), so two test files with
the same name in different folders break the whole run's collection. Parallel work meets it first."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_test_file_names_are_unique_across_the_tree():
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
