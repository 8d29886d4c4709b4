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

_IMMORTAL = 0xFFFFFFFF  # _Py_IMMORTAL_REFCNT on 64-bit CPython 3.12 and 3.13


def supported():
    return (sys.implementation.name == "cpython" and (3, 12) <= sys.version_info[:2] < (3, 14)
            and sys.maxsize > 2**32 and not sysconfig.get_config_var("Py_GIL_DISABLED"))


def immortalize():
    """Mark every object the collector tracks, and what those refer to directly (strings,
    numbers, code, the tuples of constants), as immortal. Returns how many were marked."""
    if not supported():
        return 0
    refcount = ctypes.c_ssize_t
    seen = set()
    tracked = gc.get_objects()
    for holder in tracked:
        for obj in (holder, *gc.get_referents(holder)):
            key = id(obj)
            if key in seen:
                continue
            seen.add(key)
            cell = refcount.from_address(key)
            if cell.value & _IMMORTAL != _IMMORTAL:
                cell.value = _IMMORTAL
    del tracked
    return len(seen)
