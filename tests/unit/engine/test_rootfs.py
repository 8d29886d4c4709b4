"""The plan of an isolated environment's root filesystem (pure: tmp dirs stand in for the host)."""

from __future__ import annotations

import os
from pathlib import Path

from lamina.engine import rootfs
from lamina.engine.sandbox import Mounts


def mounts(tmp_path: Path, layers: int = 0, site: bool = True) -> Mounts:
    runtimes = tmp_path / "lamina" / "runtimes"
    (runtimes / "python").mkdir(parents=True)
    site_dir = None
    if site:
        site_dir = tmp_path / "site"
        site_dir.mkdir()
        (tmp_path / "pkgs" / "boto3").mkdir(parents=True)
        (site_dir / "boto3").symlink_to(tmp_path / "pkgs" / "boto3")
    return Mounts(code_dir=tmp_path / "code", layer_dirs=tuple(tmp_path / f"layer{i}" for i in range(layers)),
                  runtime_dir=runtimes / "python", site_dir=site_dir, tmp_dir=tmp_path / "env" / "tmp")


def test_code_read_only_at_var_task_and_tmp_writable(tmp_path):
    plan = rootfs.plan(mounts(tmp_path), "/usr/bin/python3")
    by_target = {b.target: b for b in plan.binds}
    assert by_target["/var/task"].source == str(tmp_path / "code") and not by_target["/var/task"].writable
    assert by_target["/tmp"].source == str(tmp_path / "env" / "tmp") and by_target["/tmp"].writable
    assert [b.target for b in plan.binds if b.writable] == ["/tmp"]
    assert plan.dirs == ("/opt",)


def test_system_dirs_runtimes_and_site_targets_at_their_host_paths(tmp_path):
    plan = rootfs.plan(mounts(tmp_path), "/usr/bin/python3")
    same = {b.source for b in plan.binds if b.source == b.target}
    assert {"/usr", "/etc", str(tmp_path / "lamina" / "runtimes"), str(tmp_path / "site"),
            str(tmp_path / "pkgs" / "boto3")} <= same


def test_nothing_else_of_the_host(tmp_path):
    plan = rootfs.plan(mounts(tmp_path), "/usr/bin/python3")
    targets = {b.target for b in plan.binds}
    for private in ("/", "/root", "/home", "/var", str(tmp_path), str(tmp_path / "env")):
        assert private not in targets


def test_a_bind_inside_another_is_not_repeated(tmp_path):
    plan = rootfs.plan(mounts(tmp_path), "/usr/bin/python3", extra_ro=("/usr/lib", "/usr"))
    assert [b.target for b in plan.binds].count("/usr") == 1
    assert "/usr/lib" not in [b.target for b in plan.binds]


def test_interpreter_outside_usr_brings_its_prefix(tmp_path):
    prefix = tmp_path / "pythons" / "3.12"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python3.12").touch()
    assert rootfs.interpreter_prefix(str(prefix / "bin" / "python3.12")) == str(prefix)
    assert rootfs.interpreter_prefix("/usr/bin/python3") == "/usr"
    plan = rootfs.plan(mounts(tmp_path), str(prefix / "bin" / "python3.12"))
    assert str(prefix) in {b.target for b in plan.binds}


def test_layers_in_order_for_opt(tmp_path):
    plan = rootfs.plan(mounts(tmp_path, layers=2), "/usr/bin/python3")
    assert plan.opt_layers == (str(tmp_path / "layer0"), str(tmp_path / "layer1"))


def test_host_links_become_links(tmp_path):
    host = tmp_path / "host"
    (host / "usr" / "bin").mkdir(parents=True)
    (host / "bin").symlink_to("usr/bin")
    (host / "sbin").mkdir()
    plan = rootfs.plan(mounts(tmp_path, site=False), "/usr/bin/python3", host_root=str(host))
    assert ("/bin", "usr/bin") in plan.links
    assert "/bin" not in {b.target for b in plan.binds}


def test_layout_inside(tmp_path):
    m = mounts(tmp_path)
    layout = rootfs.layout(m, "/usr/bin/python3")
    assert layout.task_root == "/var/task" and layout.opt_dirs == ("/opt",) and layout.tmp_dir is None
    assert layout.runtime_dir == str(m.runtime_dir) and layout.site_dir == str(m.site_dir)
    assert layout.bin_dirs == () and layout.lib_dirs == ()
    prefix = tmp_path / "py"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python3").touch()
    custom = rootfs.layout(m, str(prefix / "bin" / "python3"))
    assert custom.bin_dirs == (str(prefix / "bin"),)
    assert custom.lib_dirs == (os.path.join(str(prefix), "lib"),)
