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
