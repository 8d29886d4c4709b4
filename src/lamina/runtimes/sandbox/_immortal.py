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
import itertools
import operator
import sys
import sysconfig
import types

_IMMORTAL = 0xFFFFFFFF  # _Py_IMMORTAL_REFCNT on 64-bit CPython 3.12 and 3.13


def supported():
    return (sys.implementation.name == "cpython" and (3, 12) <= sys.version_info[:2] < (3, 14)
            and sys.maxsize > 2**32 and not sysconfig.get_config_var("Py_GIL_DISABLED"))


# what a code object refers to (it is not a container the collector traverses)
_CODE_PARTS = ("co_consts", "co_names", "co_filename", "co_name", "co_qualname", "co_linetable", "co_exceptiontable")
# objects whose referents are asked for at once: one gc.get_referents call (and one audit event)
# per chunk instead of one per object
_CHUNK = 1024


def immortalize():
    """Mark every object the collector tracks, and everything reachable from those (strings,
    numbers, code and what code refers to, untracked tuples and dicts and what they hold), as
    immortal. Returns how many were marked. (Marking only what tracked objects refer to
    directly missed the constants of code objects and the contents of untracked containers,
    whose counts then copied their pages into each environment.)

    The walk costs about half the instructions it did with an object per step (~610 million
    against ~1,110 million for a python3.12 zygote's ~126,000 objects, under cachegrind): the
    counts are read and written through one ctypes array laid over the address space instead of
    a ctypes object made per object, and referents come from one gc.get_referents call per chunk
    of objects (atoms and code objects give none: a code object's parts come from one attrgetter
    pass over the chunk's code objects)."""
    if not supported():
        return 0
    # ob_refcnt is the first word of every object: word id(obj) >> 3 of the address space
    words = (ctypes.c_ssize_t * (sys.maxsize // 8)).from_address(0)
    code = types.CodeType
    code_parts = operator.attrgetter(*_CODE_PARTS)
    todo = gc.get_objects()
    seen = set(map(id, todo))
    for address in seen:
        _mark(words, address)
    add, push = seen.add, todo.append
    while todo:
        chunk = todo[-_CHUNK:]
        del todo[-_CHUNK:]
        parts = gc.get_referents(*chunk)
        kinds = list(map(type, chunk))
        if code in kinds:
            codes = itertools.compress(chunk, map(operator.is_, kinds, itertools.repeat(code)))
            parts.extend(itertools.chain.from_iterable(map(code_parts, codes)))
        for part in parts:
            address = id(part)
            if address not in seen:
                add(address)
                push(part)
                slot = address >> 3
                # An immortal count is exactly _IMMORTAL (a count with these bits set and higher
                # ones too would take 2**32 references): one already immortal, often a static
                # object in the interpreter's data, is not written.
                if words[slot] != _IMMORTAL:
                    words[slot] = _IMMORTAL
    return len(seen)


def _mark(words, address):
    slot = address >> 3
    if words[slot] != _IMMORTAL:
        words[slot] = _IMMORTAL
