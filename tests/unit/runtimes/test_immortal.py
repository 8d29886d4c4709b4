"""The zygote's immortal marking (runtimes/sandbox/_immortal.py) reaches what tracked objects hold
indirectly: the constants of code objects and the contents of untracked containers, whose counts
would otherwise copy their pages into each environment. Run under a runtime's CPython 3.12 in a
child process, as in a zygote, so this test's own interpreter is left alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SANDBOX = Path(__file__).resolve().parents[3] / "src" / "lamina" / "runtimes" / "sandbox"

CHILD = f"""
import gc, sys
sys.path.insert(0, {str(SANDBOX)!r})
import _immortal

def holder():
    return "a constant, not interned"

kept = ("untracked", "tuple " + str(1), 3.5)  # holds atoms only: the collector untracks it
gc.collect()
assert not gc.is_tracked(kept)
_immortal.immortalize()
const = holder.__code__.co_consts[1]
print(sys.getrefcount(const) >= 2**32 - 1, sys.getrefcount(kept[1]) >= 2**32 - 1)
"""


def test_immortal_reaches_code_constants_and_untracked_contents():
    from lamina.engine.interpreter import find_python

    python = find_python("3.12")
    if python is None:
        pytest.skip("no python3.12 on this host")
    done = subprocess.run([python, "-s", "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


# After immortalize(), the walk it replaced (one object per step: gc.get_referents of each, a code
# object's parts by name) finds nothing that is not immortal but the check's own objects.
REFERENCE = f"""
import ctypes, gc, sys, types
sys.path.insert(0, {str(SANDBOX)!r})
import _immortal
import json, logging, decimal, threading, traceback, email.message, http.client

CODE_PARTS = ("co_consts", "co_names", "co_filename", "co_name", "co_qualname", "co_linetable", "co_exceptiontable")


def mortal(out):
    todo = gc.get_objects()
    seen = set(map(id, todo))
    while todo:
        obj = todo.pop()
        if ctypes.c_ssize_t.from_address(id(obj)).value & 0xFFFFFFFF != 0xFFFFFFFF:
            out.append(type(obj))  # not its name: a static type's is a new string
        parts = [getattr(obj, name) for name in CODE_PARTS] if type(obj) is types.CodeType else gc.get_referents(obj)
        for part in parts:
            if id(part) not in seen:
                seen.add(id(part))
                todo.append(part)
    out.append(len(seen))


def main():
    gc.collect()
    marked = _immortal.immortalize()
    out = []
    mortal(out)
    reached = out.pop()
    print(marked > 20000, reached - marked <= 2, [kind.__name__ for kind in out])


main()
"""


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_immortal_marks_all_the_reference_walk_reaches(version):
    from lamina.engine.interpreter import find_python

    python = find_python(version)
    if python is None:
        pytest.skip(f"no python{version} on this host")
    done = subprocess.run([python, "-s", "-c", REFERENCE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # only the list the check itself made (`out`) is mortal
    assert done.stdout.strip().split(None, 2) == ["True", "True", "['list']"]
