"""The environments' /etc/hosts file (lamina.engine.hosts)."""

from __future__ import annotations

import os

from lamina.engine import hosts


def test_the_names_an_environment_resolves_are_its_loopback():
    lines = [line.split() for line in hosts.CONTENT.splitlines()]
    assert lines == [["127.0.0.1", "localhost", "localhost.localdomain", "sandbox", "sandbox.localdomain"]]


def test_prepared_once_and_rewritten_only_when_it_differs(tmp_path):
    path = hosts.prepare(tmp_path / "etc")
    assert path == str(tmp_path / "etc" / "hosts")
    assert open(path).read() == hosts.CONTENT and os.stat(path).st_mode & 0o777 == 0o644
    before = os.stat(path).st_ino
    assert hosts.prepare(tmp_path / "etc") == path and os.stat(path).st_ino == before  # not written again
    with open(path, "w") as f:
        f.write("127.0.0.1 elsewhere\n")
    hosts.prepare(tmp_path / "etc")
    assert open(path).read() == hosts.CONTENT
    assert sorted(os.listdir(tmp_path / "etc")) == ["hosts"]  # no partial file left
