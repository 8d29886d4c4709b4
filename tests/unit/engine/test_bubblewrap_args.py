"""The bubblewrap command line, built from a root plan without running anything."""

from __future__ import annotations

import os
import stat

import pytest

from lamina.engine import bubblewrap_backend as bw
from lamina.engine import rootfs
from lamina.engine.rootfs import Bind, Plan

PLAN = Plan(binds=(Bind("/usr", "/usr"), Bind("/srv/code", "/var/task"), Bind("/srv/env/tmp", "/tmp", writable=True)),
            links=(("/bin", "usr/bin"),), opt_layers=(), dirs=("/opt",))
ARGV = ["/usr/bin/python3.12", "-s", "-u", "/srv/runtimes/python/bootstrap.py"]


def pairs(args: list[str], option: str) -> list[tuple[str, str]]:
    return [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a == option]


def test_namespaces_uid_and_privileges():
    args = bw.command(PLAN, ARGV, network=True)
    for flag in ("--unshare-user", "--disable-userns", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                 "--die-with-parent", "--new-session"):
        assert flag in args
    assert "--unshare-net" not in args
    assert args[args.index("--hostname") + 1] == rootfs.HOSTNAME
    assert args[args.index("--uid") + 1] == str(rootfs.SANDBOX_UID)
    assert args[args.index("--cap-drop") + 1] == "ALL"
    assert args[args.index("--chdir") + 1] == "/var/task"
    assert args[-len(ARGV) - 1:] == ["--", *ARGV]


def test_no_network_is_an_empty_network_namespace():
    assert "--unshare-net" in bw.command(PLAN, ARGV, network=False)


def test_binds_links_and_new_proc_dev():
    args = bw.command(PLAN, ARGV, network=True)
    assert pairs(args, "--ro-bind") == [("/usr", "/usr"), ("/srv/code", "/var/task")]
    assert pairs(args, "--bind") == [("/srv/env/tmp", "/tmp")]
    assert pairs(args, "--symlink") == [("usr/bin", "/bin")]
    assert args[args.index("--proc") + 1] == "/proc" and args[args.index("--dev") + 1] == "/dev"
    assert args[args.index("--remount-ro") + 1] == "/"
    assert args.index("--remount-ro") > max(i for i, a in enumerate(args) if a in ("--ro-bind", "--bind"))
    assert args[args.index("--dir") + 1] == "/opt"


def test_staged_sources_are_named_by_their_staging_path():
    args = bw.command(PLAN, ARGV, network=True, stages={"/srv": "/run/stage/0", "/srv/code": "/run/stage/1"})
    assert ("/run/stage/1", "/var/task") in pairs(args, "--ro-bind")  # the longest staged prefix wins
    assert pairs(args, "--bind") == [("/run/stage/0/env/tmp", "/tmp")]
    assert ("/usr", "/usr") in pairs(args, "--ro-bind")


def test_seccomp_fd():
    args = bw.command(PLAN, ARGV, network=True, seccomp_fd=7)
    assert args[args.index("--seccomp") + 1] == "7"
    assert "--seccomp" not in bw.command(PLAN, ARGV, network=True)


@pytest.mark.parametrize(("layers", "overlay", "expected"), [
    ((), False, ["--dir", "/opt"]),
    (("/l/one",), False, ["--ro-bind", "/l/one", "/opt"]),
    (("/l/one",), True, ["--ro-bind", "/l/one", "/opt"]),
    (("/l/one", "/l/two"), True, ["--overlay-src", "/l/one", "--overlay-src", "/l/two", "--ro-overlay", "/opt"]),
])
def test_opt_from_layers(layers, overlay, expected):
    assert bw.opt_args(layers, overlay, lambda _: {}) == expected


TREES = {
    "/l/one": {"python": "dir", "bin": "dir", "shared.txt": "file", "mixed": "file"},
    "/l/one/python": {"a": "dir", "same.py": "file"},
    "/l/two": {"python": "dir", "extra": "dir", "shared.txt": "file", "mixed": "dir", "link": "link:python/b"},
    "/l/two/python": {"b": "dir", "same.py": "file"},
}


def test_layers_merged_by_binds_later_layers_win():
    args = bw.opt_args(("/l/one", "/l/two"), False, lambda path: TREES[path])
    assert args[:2] == ["--dir", "/opt"]
    assert pairs(args, "--ro-bind") == [
        ("/l/one/bin", "/opt/bin"), ("/l/two/extra", "/opt/extra"),
        ("/l/two/mixed", "/opt/mixed"),  # a directory above hides the lower file
        ("/l/one/python/a", "/opt/python/a"), ("/l/two/python/b", "/opt/python/b"),
        ("/l/two/python/same.py", "/opt/python/same.py"), ("/l/two/shared.txt", "/opt/shared.txt"),
    ]
    assert ["--dir", "/opt/python"] == args[args.index("/opt/python") - 1:args.index("/opt/python") + 1]
    assert pairs(args, "--symlink") == [("python/b", "/opt/link")]


def test_merge_lists_host_dirs_but_binds_staged_ones():
    plan = Plan(binds=(), links=(), opt_layers=("/l/one", "/l/two"), dirs=("/opt",))
    args = bw.command(plan, ARGV, network=True, stages={"/l": "/stage/0"}, list_dir=lambda path: TREES[path])
    assert ("/stage/0/two/python/b", "/opt/python/b") in pairs(args, "--ro-bind")


@pytest.mark.parametrize(("code", "status"), [(0, 0), (1, 1), (137, -9), (143, -15), (128, 128), (255, 255)])
def test_exit_status(code, status):
    assert bw.exit_status(code) == status


def _stat(modes: dict[str, tuple[int, int, int]]):
    def fake(path: str) -> os.stat_result:
        mode, uid, gid = modes[path]
        return os.stat_result((stat.S_IFDIR | mode, 0, 0, 0, uid, gid, 0, 0, 0, 0))
    return fake


@pytest.mark.parametrize(("modes", "reachable"), [
    ({"/": (0o755, 0, 0), "/root": (0o700, 0, 0)}, False),
    ({"/": (0o755, 0, 0), "/root": (0o711, 0, 0)}, True),
    ({"/": (0o755, 0, 0), "/root": (0o700, 993, 0)}, True),
    ({"/": (0o755, 0, 0), "/root": (0o750, 0, 993)}, True),
])
def test_searchable(modes, reachable):
    assert bw.searchable("/root/code", 993, _stat(modes)) is reachable


def test_the_hosts_file_is_bound_read_only_over_the_hosts_etc_hosts():
    plan = Plan(binds=(Bind("/etc", "/etc"), Bind("/data/sandbox/etc/hosts", "/etc/hosts")), links=())
    binds = pairs(bw.command(plan, ARGV, network=True), "--ro-bind")
    assert binds.index(("/etc", "/etc")) < binds.index(("/data/sandbox/etc/hosts", "/etc/hosts"))
    staged = pairs(bw.command(plan, ARGV, network=True, stages={"/data/sandbox/etc/hosts": "/stage/0"}), "--ro-bind")
    assert ("/stage/0", "/etc/hosts") in staged  # under a directory the sandbox uid cannot search
