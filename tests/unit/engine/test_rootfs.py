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


def test_system_dirs_at_their_host_paths_and_the_runtime_at_var_runtime(tmp_path):
    m = mounts(tmp_path)
    plan = rootfs.plan(m, "/usr/bin/python3")
    same = {b.source for b in plan.binds if b.source == b.target}
    assert {"/usr", "/etc"} <= same
    by_target = {b.target: b for b in plan.binds}
    assert by_target["/var/runtime"].source == str(m.runtime_dir) and not by_target["/var/runtime"].writable
    assert "/var/lang" not in by_target  # the OS's interpreter stays in /usr


def test_no_host_path_of_lamina_is_a_target(tmp_path):
    prefix = tmp_path / "pythons" / "3.12"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python3.12").touch()
    plan = rootfs.plan(mounts(tmp_path), str(prefix / "bin" / "python3.12"))
    targets = {b.target for b in plan.binds}
    assert targets == {"/usr", "/etc", "/var/lang", "/var/runtime", "/var/task", "/tmp"} | (
        {link for link in rootfs.SYSTEM_LINKS if os.path.isdir(link) and not os.path.islink(link)})
    assert not any(str(tmp_path) in target for target in targets)


def test_nothing_else_of_the_host(tmp_path):
    plan = rootfs.plan(mounts(tmp_path), "/usr/bin/python3")
    targets = {b.target for b in plan.binds}
    for private in ("/", "/root", "/home", "/var", str(tmp_path), str(tmp_path / "env")):
        assert private not in targets


def test_a_bind_inside_another_is_not_repeated(tmp_path):
    plan = rootfs.plan(mounts(tmp_path), "/usr/bin/python3", extra_ro=("/usr/lib", "/usr"))
    assert [b.target for b in plan.binds].count("/usr") == 1
    assert "/usr/lib" not in [b.target for b in plan.binds]


def test_interpreter_outside_usr_brings_its_prefix_at_var_lang(tmp_path):
    prefix = tmp_path / "pythons" / "3.12"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python3.12").touch()
    assert rootfs.interpreter_prefix(str(prefix / "bin" / "python3.12")) == str(prefix)
    assert rootfs.interpreter_prefix("/usr/bin/python3") == "/usr"
    plan = rootfs.plan(mounts(tmp_path), str(prefix / "bin" / "python3.12"))
    assert {b.target: b.source for b in plan.binds}["/var/lang"] == str(prefix)


def test_moves_translate_host_paths_to_the_paths_inside(tmp_path):
    prefix = tmp_path / "pythons" / "3.12"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python3.12").touch()
    m = mounts(tmp_path)
    moves = rootfs.moves(rootfs.plan(m, str(prefix / "bin" / "python3.12")))
    assert (str(prefix), "/var/lang") in moves and (str(m.runtime_dir), "/var/runtime") in moves
    assert all(target != "/tmp" for _, target in moves)  # the writable volume is no code's home
    assert [len(host) for host, _ in moves] == sorted((len(host) for host, _ in moves), reverse=True)
    cases = [
        (str(prefix / "bin" / "python3.12"), "/var/lang/bin/python3.12"),
        (str(prefix / "lib" / "python3.12" / "json" / "__init__.py"), "/var/lang/lib/python3.12/json/__init__.py"),
        (str(m.runtime_dir / "bootstrap.py"), "/var/runtime/bootstrap.py"),
        (str(prefix) + "x/bin", str(prefix) + "x/bin"),  # a sibling with a longer name is not inside
        ("/usr/lib/python3", "/usr/lib/python3"),
    ]
    for host, expected in cases:
        assert rootfs.inside(host, moves) == expected, host
    assert rootfs.preload_moves(str(prefix / "bin" / "python3.12"), str(m.runtime_dir)) == sorted(
        [(str(prefix), "/var/lang"), (str(m.runtime_dir), "/var/runtime")], key=lambda mv: -len(mv[0]))
    assert rootfs.preload_moves("/usr/bin/python3", "/rt") == [("/rt", "/var/runtime")]
    # rapid's directory is /var/runtime in a custom runtime's environment
    assert rootfs.preload_moves("/usr/bin/python3", "/site/python", "/site/rapid") == [
        ("/site/python", "/var/runtime"), ("/site/rapid", "/var/runtime")]


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
    assert layout.runtime_dir == "/var/runtime" and layout.site_dir is None
    assert layout.bin_dirs == () and layout.lib_dirs == ()
    prefix = tmp_path / "py"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python3").touch()
    custom = rootfs.layout(m, str(prefix / "bin" / "python3"))
    assert custom.bin_dirs == ("/var/lang/bin",) and custom.lib_dirs == ("/var/lang/lib",)


def test_the_shared_part_plus_the_rest_is_the_plan(tmp_path):
    m = mounts(tmp_path, layers=2)
    plan = rootfs.plan(m, "/usr/bin/python3")
    part = rootfs.shared("/usr/bin/python3", str(m.runtime_dir))
    rest = rootfs.rest(plan, part)
    assert rest is not None
    assert {b.target for b in rest} == {"/var/task", "/tmp"}
    assert set(part.binds) | set(rest) == set(plan.binds) and not set(part.binds) & set(rest)
    assert part.links == plan.links and set(plan.dirs) <= set(part.dirs)
    assert {b.target for b in part.binds} >= {"/usr", "/etc", "/var/runtime"}
    # a read-only copy of the part gets no directory later: the rest's mount points are in it
    assert {b.target for b in rest} | {"/opt"} <= set(part.dirs)


def _plan(*binds: tuple[str, str], links=()) -> rootfs.Plan:
    return rootfs.Plan(binds=tuple(rootfs.Bind(source, target) for source, target in binds), links=tuple(links))


def test_a_plan_starts_from_the_shared_part_only_when_nothing_overlaps():
    part = _plan(("/usr", "/usr"), ("/rt", "/var/runtime"), links=[("/bin", "usr/bin")])
    cases = [  # (plan, what is left to bind or None)
        (_plan(("/usr", "/usr"), ("/rt", "/var/runtime"), ("/code", "/var/task"), links=[("/bin", "usr/bin")]),
         ("/var/task",)),
        (_plan(("/usr", "/usr"), ("/other", "/var/runtime"), ("/code", "/var/task"), links=[("/bin", "usr/bin")]),
         None),  # another runtime image
        (_plan(("/usr", "/usr"), ("/rt", "/var/runtime"), ("/code", "/var/task")), None),  # other links
        (_plan(("/usr", "/usr"), ("/rt", "/var/runtime"), ("/x", "/usr/local"), links=[("/bin", "usr/bin")]),
         None),  # a bind inside a shared one
        (_plan(("/usr", "/usr"), ("/rt", "/var/runtime"), ("/x", "/var"), links=[("/bin", "usr/bin")]),
         None),  # a bind over a shared one
    ]
    for plan, left in cases:
        rest = rootfs.rest(plan, part)
        assert (None if rest is None else tuple(b.target for b in rest)) == left, plan


def test_an_image_plan_never_starts_from_the_shared_part(tmp_path):
    m = mounts(tmp_path)
    image = rootfs.Plan(binds=(rootfs.Bind("/img", "/"),), links=(), image=True)
    assert rootfs.rest(image, rootfs.shared("/usr/bin/python3", str(m.runtime_dir))) is None


def test_the_hosts_file_is_bound_over_the_hosts_etc_hosts_in_the_plan_and_its_shared_part(tmp_path):
    m = mounts(tmp_path)
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    hosts = str(tmp_path / "work" / "etc" / "hosts")
    plan = rootfs.plan(m, "/usr/bin/python3", host_root=str(host), hosts=hosts)
    part = rootfs.shared("/usr/bin/python3", str(m.runtime_dir), host_root=str(host), hosts=hosts)
    bind = rootfs.Bind(hosts, "/etc/hosts")
    assert bind in plan.binds and bind in part.binds
    targets = [b.target for b in plan.binds]
    assert targets.index("/etc") < targets.index("/etc/hosts")  # mounted over the host's /etc
    assert {b.target for b in rootfs.rest(plan, part)} == {"/var/task", "/tmp"}  # built once, with the part
    assert not any(target == "/etc/hosts" for _, target in rootfs.moves(plan))  # no path to translate
    assert bind not in rootfs.plan(m, "/usr/bin/python3", host_root=str(host)).binds  # none handed in


def test_no_hosts_bind_where_the_host_has_no_etc_hosts_to_mount_over(tmp_path):
    (tmp_path / "host" / "etc").mkdir(parents=True)
    plan = rootfs.plan(mounts(tmp_path), "/usr/bin/python3", host_root=str(tmp_path / "host"), hosts="/w/etc/hosts")
    assert "/etc/hosts" not in {b.target for b in plan.binds}


def test_a_container_image_keeps_its_own_etc_hosts(tmp_path):
    m = mounts(tmp_path)
    image = Mounts(code_dir=m.code_dir, layer_dirs=(), runtime_dir=m.runtime_dir, site_dir=None,
                   tmp_dir=m.tmp_dir, image_root=tmp_path / "image")
    plan = rootfs.plan(image, "/usr/bin/python3", hosts="/w/etc/hosts")
    assert "/etc/hosts" not in {b.target for b in plan.binds}
