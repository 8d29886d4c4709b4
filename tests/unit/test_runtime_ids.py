"""Which runtimes lamina runs and how (lamina.runtime_ids): the one place that decides which go
through rapid, the in-sandbox Runtime API server."""

from __future__ import annotations

import pytest

from lamina import runtime_ids


@pytest.mark.parametrize(("runtime", "python", "node", "rapid", "runnable"), [
    ("python3.12", True, False, False, True),
    ("python3.9", True, False, False, True),
    ("nodejs20.x", False, True, True, True),
    ("nodejs22.x", False, True, True, True),
    ("provided.al2023", False, False, True, True),
    ("provided.al2", False, False, True, True),
    ("provided", False, False, False, False),  # the retired custom runtime
    ("java21", False, False, False, False),
    ("ruby3.3", False, False, False, False),
    ("python2.7", False, False, False, False),
])
def test_families(runtime, python, node, rapid, runnable):
    assert runtime_ids.is_python(runtime) is python
    assert runtime_ids.is_node(runtime) is node
    assert runtime_ids.uses_runtime_api(runtime) is rapid
    assert runtime_ids.runnable(runtime) is runnable


@pytest.mark.parametrize(("runtime", "version", "major"), [
    ("python3.12", "3.12", None), ("nodejs20.x", None, 20), ("nodejs", None, None), ("provided.al2", None, None),
])
def test_versions(runtime, version, major):
    assert runtime_ids.python_version(runtime) == version
    assert runtime_ids.node_major(runtime) == major


@pytest.mark.parametrize(("today", "absent", "present"), [
    ("2026-12-04", {"python3.9"}, {"python3.14", "python3.11", "nodejs20.x", "provided.al2023"}),
    # python3.10's create block (2026-07-31 in BLOCK_DATES) takes it off the list; provided.al2 likewise
    ("2026-08-01", {"python3.10", "provided.al2"}, {"python3.11", "provided.al2023"}),
])
def test_offered(today, absent, present):
    import datetime
    offered = set(runtime_ids.offered(datetime.date.fromisoformat(today)))
    assert offered <= set(runtime_ids.OFFERED)
    assert not offered & absent
    assert present <= offered
