"""The pure rules of environment cgroups: CPU in proportion to memory, the OOM-kill counter."""

from __future__ import annotations

import pytest

from lamina.engine import cgroups


@pytest.mark.parametrize(("memory_mb", "shares"), [
    (128, 74), (512, 296), (1769, 1024), (3538, 2048), (10240, 5927), (1, 2),
])
def test_cpu_shares(memory_mb, shares):
    assert cgroups.cpu_shares(memory_mb) == shares


@pytest.mark.parametrize(("memory_mb", "weight"), [
    (128, 7), (1024, 57), (1769, 100), (10240, 578), (1, 1), (10**6, 10000),
])
def test_cpu_weight(memory_mb, weight):
    assert cgroups.cpu_weight(memory_mb) == weight


@pytest.mark.parametrize(("text", "kills"), [
    ("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", 3),  # v1 memory.oom_control
    ("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n", 1),  # v2 memory.events
    ("oom_kill_disable 0\nunder_oom 0\n", 0),  # kernels before the counter
    ("", 0),
    ("oom_kill x\n", 0),
])
def test_parse_oom_kills(text, kills):
    assert cgroups.parse_oom_kills(text) == kills


def test_group_files(tmp_path):
    group = cgroups.Group("env", 1, {"memory": tmp_path / "m", "pids": tmp_path / "p"})
    assert group.procs_files == [str(tmp_path / "m" / "cgroup.procs"), str(tmp_path / "p" / "cgroup.procs")]
    (tmp_path / "m").mkdir()
    (tmp_path / "p").mkdir()
    group.set_limits(256, pids_max=10)
    assert (tmp_path / "m" / "memory.limit_in_bytes").read_text() == str(256 << 20)
    assert (tmp_path / "p" / "pids.max").read_text() == "10"
    (tmp_path / "m" / "memory.oom_control").write_text("oom_kill 2\n")
    (tmp_path / "m" / "memory.max_usage_in_bytes").write_text(str(50 << 20))
    assert group.oom_kills() == 2 and group.peak_kb() == 50 << 10
