"""Moving an interpreter's picture of itself from the host's paths to the environment's.

The zygote imports the stdlib, the runtime and boto3 on the host, at host paths (the interpreter's
installation, lamina's runtime image); an environment forked from it sees those same files at
/var/lang and /var/runtime. `code_filenames` (once, in the zygote) points every loaded function's
code at its path inside (tracebacks name /var/lang/...) and moves module files and the path
constants computed at import (botocore finds its data files through one). `interpreter` (in
each environment, after the pivot, so it sees what is inside) moves sys.executable, the
prefixes, sys.path, packages' __path__ (which the zygote itself still imports from) and the
modules imported since, and forgets modules that exist only on the host (the zygote's own).

`moves` is a list of (host path, path inside), longest host path first (rootfs.moves). Stdlib
only; imports nothing from lamina.
"""

import _imp
import os
import sys

_FUNCTION_TYPES = (type(lambda: None),)


def inside(path, moves):
    """`path` as seen inside, or None when no move covers it."""
    if not isinstance(path, str):
        return None
    for host, target in moves:
        if path == host or path.startswith(host + "/"):
            return target + path[len(host):]
    return None


def _fix_code(function, moves):
    code = getattr(function, "__code__", None)
    if code is not None:
        moved = inside(code.co_filename, moves)
        if moved is not None:
            _imp._fix_co_filename(code, moved)  # in place, nested code objects too
    defaults = getattr(function, "__defaults__", None)
    if defaults and any(inside(value, moves) is not None for value in defaults):
        function.__defaults__ = tuple(inside(value, moves) or value for value in defaults)


def _fix_strings(namespace, assign, moves):
    """Path constants computed at import from __file__ (botocore's BOTOCORE_ROOT, its loader's
    BUILTIN_DATA_PATH, its CA bundle): a package that reads its data files from there."""
    for name, value in list(namespace.items()):
        moved = inside(value, moves)
        if moved is not None:
            assign(name, moved)


def _fix_namespace(values, moves, seen, depth=0):
    for value in values:
        if id(value) in seen or depth > 4:
            continue
        seen.add(id(value))
        if isinstance(value, _FUNCTION_TYPES):
            _fix_code(value, moves)
        elif isinstance(value, (staticmethod, classmethod)):
            _fix_code(value.__func__, moves)
        elif isinstance(value, property):
            for accessor in (value.fget, value.fset, value.fdel):
                if accessor is not None:
                    _fix_code(accessor, moves)
        elif isinstance(value, type):
            try:
                members = dict(vars(value))
                _fix_strings(members, lambda name, moved, cls=value: setattr(cls, name, moved), moves)
            except (TypeError, AttributeError):
                continue
            _fix_namespace(list(members.values()), moves, seen, depth + 1)


class _Settled:
    """What the zygote moved ahead, so an environment touches only what it must: every page an
    environment writes after the fork is a copy-on-write fault (a pass over all modules cost
    6-15 ms of each cold start)."""

    modules = set()  # names whose files, code and constants were moved
    packages = []  # names of those with a __path__ (moved in each environment: the zygote imports)
    host_only = []  # names of modules that exist only on the host (forgotten in each environment)
    count = -1  # len(sys.modules) once settled: more in an environment means later imports
    stale_finders = {}  # the zygote's path importer cache, kept alive in an environment (not used)


def code_filenames(moves, host_only=()):
    """Point the code of every function and method of every loaded module at its path inside,
    and the path constants of those modules and their classes (not __path__, which the zygote
    may still import from); note modules that live in `host_only` directories."""
    seen = set()
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None) or ""
        if any(origin.startswith(directory + "/") for directory in host_only):
            _Settled.host_only.append(name)
            continue
        if inside(origin, moves) is None:
            continue
        try:
            _fix_module(module, moves)
            _Settled.modules.add(name)
            if hasattr(module, "__path__"):
                _Settled.packages.append(name)
            namespace = vars(module)
            _fix_strings({k: v for k, v in namespace.items() if k not in ("__file__", "__cached__")},
                         namespace.__setitem__, moves)
            _fix_namespace(list(namespace.values()), moves, seen)
        except Exception:  # a module with an odd namespace keeps its host paths in tracebacks
            continue
    _Settled.count = len(sys.modules)


def _fix_search_path(module, moves):
    """__path__ and the spec's search locations: where submodules are imported from."""
    path = getattr(module, "__path__", None)
    if isinstance(path, list):
        path[:] = [inside(p, moves) or p for p in path]
    elif path is not None and isinstance(getattr(path, "_path", None), list):
        path._path[:] = [inside(p, moves) or p for p in path._path]
    spec = getattr(module, "__spec__", None)
    locations = getattr(spec, "submodule_search_locations", None)
    if isinstance(locations, list):
        locations[:] = [inside(p, moves) or p for p in locations]


def _fix_module(module, moves):
    """Everything but the search path (the zygote may still import from it)."""
    for name in ("__file__", "__cached__"):
        moved = inside(getattr(module, name, None), moves)
        if moved is not None:
            setattr(module, name, moved)
    spec = getattr(module, "__spec__", None)
    if spec is not None:
        moved = inside(spec.origin, moves)
        if moved is not None:
            spec.origin = moved
        cached = getattr(spec, "_cached", None)
        if inside(cached, moves) is not None:
            spec._cached = inside(cached, moves)
    loader = getattr(module, "__loader__", None)
    moved = inside(getattr(loader, "path", None), moves)
    if moved is not None:
        try:
            loader.path = moved
        except AttributeError:
            pass


def interpreter(moves, script, pythonpath=(), host_only=()):
    """Everything the interpreter says about paths, as seen inside; `script` is the program it
    runs (sys.argv[0]), `pythonpath` the PYTHONPATH entries (which follow the script's directory),
    `host_only` directories whose modules are forgotten (they are not inside)."""
    for name in ("executable", "_base_executable", "prefix", "exec_prefix", "base_prefix", "base_exec_prefix",
                 "_stdlib_dir"):
        moved = inside(getattr(sys, name, None), moves)
        if moved is not None:
            setattr(sys, name, moved)
    # an entry no move covers stays only if it is there inside too (the OS's own, for /usr)
    rest = [inside(p, moves) or p for p in sys.path[1:] if inside(p, moves) is not None or os.path.isdir(p)]
    front = [script.rsplit("/", 1)[0] or "/"] + [p for p in pythonpath if p]
    sys.path[:] = front + [p for p in rest if p not in front]
    sys.argv = [script]
    sys.orig_argv = [sys.executable, script]
    # The finders cached for host directories are dropped but not freed: each holds its directory's
    # listing, and freeing those strings would write to ~1 MB of pages shared with the zygote.
    _Settled.stale_finders = dict(sys.path_importer_cache)
    sys.path_importer_cache.clear()
    if len(sys.modules) != _Settled.count:  # imports since the zygote settled (or it did not)
        for name, module in list(sys.modules.items()):
            origin = getattr(module, "__file__", None) or ""
            if any(origin.startswith(directory + "/") for directory in host_only):
                del sys.modules[name]
            elif name not in _Settled.modules:
                _fix_module(module, moves)
                if hasattr(module, "__path__"):
                    _fix_search_path(module, moves)
    for name in _Settled.host_only:
        sys.modules.pop(name, None)
    for name in _Settled.packages:
        module = sys.modules.get(name)
        if module is not None:
            _fix_search_path(module, moves)
    site = sys.modules.get("site")
    if site is not None and isinstance(getattr(site, "PREFIXES", None), list):
        site.PREFIXES[:] = [inside(p, moves) or p for p in site.PREFIXES]
    sysconfig = sys.modules.get("sysconfig")
    if sysconfig is not None and hasattr(sysconfig, "_CONFIG_VARS"):
        sysconfig._CONFIG_VARS = None  # recomputed from the moved prefixes when asked
    linecache = sys.modules.get("linecache")
    if linecache is not None:
        linecache.clearcache()
