"""The managed Python runtime's _X_AMZN_TRACE_ID (bootstrap._TraceVariable): set per invoke in
os.environ and in the C environment alike, without glibc's setenv keeping a copy of every value."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src" / "lamina" / "runtimes" / "python"))

import bootstrap  # noqa: E402

_libc = ctypes.CDLL(None)
_libc.getenv.restype = ctypes.c_char_p
NAME = "_X_AMZN_TRACE_ID"


@pytest.fixture()
def variable(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)  # restored after the test, in both environments
    return bootstrap._TraceVariable()


def _seen():
    """(os.environ, getenv, a child process) views of the variable."""
    child = subprocess.run(["sh", "-c", f'printf %s "${{{NAME}-unset}}"'], capture_output=True, check=True).stdout
    return os.environ.get(NAME), _libc.getenv(NAME.encode()), child


def test_set_and_clear_show_in_os_environ_getenv_and_children(variable):
    variable.set("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    value = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    assert _seen() == (value, value.encode(), value.encode())
    variable.set("Root=1-second")
    assert _seen() == ("Root=1-second", b"Root=1-second", b"Root=1-second")
    variable.clear()
    assert _seen() == (None, None, b"unset")
    variable.clear()
    assert _seen() == (None, None, b"unset")


def test_a_value_the_function_set_itself_is_replaced_by_the_next(variable):
    os.environ[NAME] = "mine"
    assert _libc.getenv(NAME.encode()) == b"mine"
    variable.set("Root=1-next")
    assert _seen() == ("Root=1-next", b"Root=1-next", b"Root=1-next")


@pytest.mark.parametrize("value", ["Root=1-é", "a\udcff", ""])
def test_values_are_encoded_as_os_environ_encodes_them(variable, value):
    variable.set(value)
    assert os.environ[NAME] == value
    assert _libc.getenv(NAME.encode()) == os.environ.encodevalue(value)


def test_a_value_putenv_cannot_take_goes_through_os_environ(variable):
    with pytest.raises(ValueError):
        variable.set("a\0b")  # as os.environ[...] = "a\0b" raises


def test_new_values_do_not_pile_up(variable):
    """glibc's setenv keeps every value it was given (~144 bytes per invoke); putenv of an entry
    the runtime owns keeps two."""
    def rss_kb():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    for index in range(2000):
        variable.set(f"Root=1-{index:08x}-{'0' * 24};Parent={'1' * 16};Sampled=0")
    before = rss_kb()
    for index in range(50000):
        variable.set(f"Root=1-{index:08x}-{'2' * 24};Parent={'3' * 16};Sampled=0")
    assert rss_kb() - before < 2000  # setenv: ~7,000 kB
    assert os.environ[NAME] == f"Root=1-{49999:08x}-{'2' * 24};Parent={'3' * 16};Sampled=0"
