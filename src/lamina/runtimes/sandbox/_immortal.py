"""Keeping a zygote's pages shared with the environments it forks (CPython 3.12 and 3.13).

After `fork`, a page stays shared between the zygote and a child only while neither writes to it.
`gc.freeze()` stops the collector from writing object headers, but every reference a child takes
or drops still writes the object's reference count, so running the runtime's code copies most of
the pages that hold the preloaded modules into each environment (~2 MB per environment measured).

CPython 3.12 made some objects immortal (PEP 683): their count is never written. `immortalize()`
marks everything the zygote preloaded that way, with the same marker CPython uses (the low 32
bits of ob_refcnt all set on 64-bit builds), so references to those objects no longer dirty their
pages. They are never freed: the zygote and its environments keep the preloaded modules for life
anyway. Elsewhere (other versions, free-threaded or 32-bit builds, other implementations) it does
nothing.

Stdlib only; imports nothing from lamina.
"""

import ctypes
import gc
import sys
import sysconfig
import types

_IMMORTAL = 0xFFFFFFFF  # _Py_IMMORTAL_REFCNT on 64-bit CPython 3.12 and 3.13


def supported():
    return (sys.implementation.name == "cpython" and (3, 12) <= sys.version_info[:2] < (3, 14)
            and sys.maxsize > 2**32 and not sysconfig.get_config_var("Py_GIL_DISABLED"))


# what a code object refers to (it is not a container the collector traverses)
_CODE_PARTS = ("co_consts", "co_names", "co_filename", "co_name", "co_qualname", "co_linetable", "co_exceptiontable")


def immortalize():
    """Mark every object the collector tracks, and everything reachable from those (strings,
    numbers, code and what code refers to, untracked tuples and dicts and what they hold), as
    immortal. Returns how many were marked. (Marking only what tracked objects refer to
    directly missed the constants of code objects and the contents of untracked containers,
    whose counts then copied their pages into each environment.)"""
    if not supported():
        return 0
    refcount = ctypes.c_ssize_t
    todo = gc.get_objects()
    seen = set(map(id, todo))
    while todo:
        obj = todo.pop()
        cell = refcount.from_address(id(obj))
        if cell.value & _IMMORTAL != _IMMORTAL:
            cell.value = _IMMORTAL
        if type(obj) is types.CodeType:
            parts = [getattr(obj, name) for name in _CODE_PARTS]
        else:
            parts = gc.get_referents(obj)
        for part in parts:
            if id(part) not in seen:
                seen.add(id(part))
                todo.append(part)
    return len(seen)
