"""File systems: who owns an access point's directory, and when a function may name one."""

from pathlib import Path

import pytest

from lamina.config import FileSystem
from lamina.engine import file_systems, rootfs
from lamina.engine.file_systems import FileSystems, mount_problem, owner
from lamina.engine.sandbox import Mounts


@pytest.mark.parametrize(("uid", "gid", "expected"), [
    (None, None, (993, 993)),
    (1000, None, (1000, 1000)),
    (None, 50, (993, 50)),
    (1000, 1001, (1000, 1001)),
])
def test_owner(uid, gid, expected):
    assert owner(FileSystem(Path("/x"), uid, gid), sandbox_uid=993) == expected


@pytest.mark.parametrize(("mapped", "backend", "says"), [
    (True, "namespaces", None),
    (True, "bubblewrap", None),
    (False, "namespaces", "--file-system ARN=PATH"),
    (True, "process", "process sandbox backend cannot mount"),
    (False, "process", "can not be found"),
])
def test_mount_problem(mapped, backend, says):
    problem = mount_problem("arn:ap", mapped, backend)
    assert (problem is None) if says is None else (says in problem)


def test_host_dir_and_prepare(tmp_path):
    fs = FileSystems({"arn:ap": FileSystem(tmp_path / "a" / "b")}, "namespaces")
    assert fs.host_dir("arn:ap") == tmp_path / "a" / "b" and fs.host_dir("arn:other") is None
    fs.prepare()
    assert (tmp_path / "a" / "b").is_dir()
    assert fs.problem("arn:other") == file_systems.NOT_MAPPED.format(arn="arn:other")


def test_plan_binds_file_systems_read_write(tmp_path):
    mounts = Mounts(code_dir=tmp_path / "code", layer_dirs=(), runtime_dir=tmp_path / "rt", site_dir=None,
                    tmp_dir=tmp_path / "tmp", file_systems=((tmp_path / "efs", "/mnt/data"),))
    plan = rootfs.plan(mounts, "/usr/bin/python3")
    assert rootfs.Bind(str(tmp_path / "efs"), "/mnt/data", writable=True) in plan.binds
