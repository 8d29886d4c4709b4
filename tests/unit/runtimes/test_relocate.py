"""The zygote's relocation of an interpreter's paths (runtimes/sandbox/_relocate.py): host paths
become the environment's, in code objects, sys and module attributes. Run in a child process,
as an environment does after its fork, so this test's own interpreter is left alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SANDBOX = Path(__file__).resolve().parents[3] / "src" / "lamina" / "runtimes" / "sandbox"
sys.path.insert(0, str(SANDBOX))

import _relocate  # noqa: E402


@pytest.mark.parametrize(("path", "expected"), [
    ("/h/py/bin/python3.12", "/var/lang/bin/python3.12"),
    ("/h/py", "/var/lang"),
    ("/h/pyx/lib", None),  # a sibling whose name only starts the same is not moved
    ("/h/image/python/boto3/__init__.py", "/var/runtime/boto3/__init__.py"),
    ("/usr/lib/python3", None),
    (None, None),
])
def test_inside(path, expected):
    moves = [("/h/image/python", "/var/runtime"), ("/h/py", "/var/lang")]
    assert _relocate.inside(path, moves) == expected


CHILD = r'''
import json, os, sys, traceback
sys.path.insert(0, SANDBOX)
sys.path.insert(0, PKG_PARENT)
import _relocate
import relocme
from relocme import sub
moves = [(PKG_PARENT, "/var/runtime"), (os.path.dirname(os.path.dirname(os.__file__)), "/var/lang/lib")]
_relocate.code_filenames(moves, host_only=(SANDBOX,))
try:
    relocme.Boom().explode()
except ValueError:
    trace = traceback.format_exc()
from relocme import late  # imported after the zygote settled: moved by the environment's scan
_relocate.interpreter(moves, "/var/runtime/bootstrap.py", pythonpath=["/var/runtime"], host_only=(SANDBOX,))
print(json.dumps({"trace": trace, "file": relocme.__file__, "path": list(relocme.__path__),
                  "origin": relocme.__spec__.origin, "sub": sub.__file__, "argv": sys.argv,
                  "orig_argv": sys.orig_argv, "sys_path": sys.path[:2], "os": os.__file__,
                  "relocate_gone": "_relocate" not in sys.modules, "late": late.__file__}))
'''


def test_an_interpreter_forgets_its_host_paths(tmp_path):
    package = tmp_path / "relocme"
    package.mkdir()
    (package / "__init__.py").write_text("class Boom:\n    def explode(self):\n        raise ValueError('x')\n")
    (package / "sub.py").write_text("")
    (package / "late.py").write_text("")
    code = CHILD.replace("SANDBOX", repr(str(SANDBOX))).replace("PKG_PARENT", repr(str(tmp_path)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout)
    assert 'File "/var/runtime/relocme/__init__.py", line 3, in explode' in seen["trace"]
    assert str(tmp_path) not in seen["trace"]
    assert seen["file"] == seen["origin"] == "/var/runtime/relocme/__init__.py"
    assert seen["path"] == ["/var/runtime/relocme"] and seen["sub"] == "/var/runtime/relocme/sub.py"
    assert seen["argv"] == ["/var/runtime/bootstrap.py"] and seen["orig_argv"][1:] == ["/var/runtime/bootstrap.py"]
    assert seen["sys_path"] == ["/var/runtime", "/var/runtime"]  # the script's directory, then PYTHONPATH
    assert seen["os"].startswith("/var/lang/lib/") and seen["relocate_gone"]
    assert seen["late"] == "/var/runtime/relocme/late.py"


FINDERS_CHILD = r"""
import json, sys, weakref
sys.path.insert(0, SANDBOX)
sys.path.insert(0, PKG_PARENT)
import _relocate
import relocme
finder = weakref.ref(sys.path_importer_cache[PKG_PARENT])
_relocate.interpreter([(PKG_PARENT, "/var/runtime")], "/var/runtime/bootstrap.py", host_only=(SANDBOX,))
print(json.dumps({"cached": PKG_PARENT in sys.path_importer_cache, "alive": finder() is not None}))
"""


def test_an_environment_drops_the_zygotes_finders_without_freeing_them(tmp_path):
    """A host directory's finder is no longer consulted inside, but stays alive: freeing its cached
    listing would copy the zygote's pages into every environment."""
    (tmp_path / "relocme").mkdir()
    (tmp_path / "relocme" / "__init__.py").write_text("")
    code = FINDERS_CHILD.replace("SANDBOX", repr(str(SANDBOX))).replace("PKG_PARENT", repr(str(tmp_path)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"cached": False, "alive": True}


def test_the_zygote_imports_nothing_after_it_settles_its_modules():
    """A module imported after `code_filenames` settled the zygote's modules makes every
    environment walk all modules again in `interpreter` (~1.2 ms of each cold start)."""
    child = (f"import sys; sys.path.insert(0, {str(SANDBOX)!r})\n"
             "import zygote, _relocate\n"
             "zygote.prepare([], ['json', 'logging', 'decimal'], [])\n"
             "print(len(sys.modules) - _relocate._Settled.count)\n")
    from lamina.engine.interpreter import find_python

    python = find_python("3.12")  # a runtime's interpreter, whose zygote makes its objects immortal
    if python is None:
        pytest.skip("no python3.12 on this host")
    done = subprocess.run([python, "-s", "-c", child], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
