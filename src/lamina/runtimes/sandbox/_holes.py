"""Filling the free memory a zygote's allocator holds before it forks (CPython).

After `fork` an environment allocates its own objects. CPython's small-object allocator
(obmalloc) serves them first from the free blocks of the pools the zygote already uses, and
its free lists (dicts, lists, tuples, ...) hand back objects the zygote freed: each of those
sits on a page the zygote's preloaded objects share, so every first allocation there copies a
4 kB page for a few bytes. Measured on a warm idle Python 3.12 environment: ~400 pages of the
allocator's arenas copied, holding ~100 kB of changed words, mostly new strings, lists and
code placed in the zygote's holes.

`fill()` takes every such free block in the zygote itself, once, and keeps it for life: the
free lists are emptied into objects that are kept, and each size class's free blocks in the
pools in use are allocated and never freed. An environment's own allocations then go to empty
pools, packed onto pages of their own (an empty pool is filled densely, so reusing one the
zygote freed costs no more than a fresh one). The figures come from sys._debugmallocstats.
Where that is missing or reads differently (other implementations, a build without obmalloc),
it does nothing. `fill_heap()` does the same for glibc malloc, which holds what is larger than
512 bytes (dict tables, long lists, most code objects): its per-thread cache and the free
chunks of the main heap (from malloc_info), ~500 of 900 kB copied heap per environment.

Stdlib only; imports nothing from lamina.
"""

import ctypes
import os
import re
import sys
import tempfile

_CHUNKS = re.compile(r'<size from="(\d+)" to="(\d+)" total="\d+" count="(\d+)"/>')
_CLASS = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$")
_UNUSED = re.compile(r"^(\d+) unused pools \* (\d+) bytes")
_FREE = re.compile(r"^\s*(\d+) free (?:(\d+)-sized )?(\w+?)s? \* (\d+) bytes each")

_kept = []  # what fill() took: never released


def parse(text):
    """From sys._debugmallocstats output: ({block size: free blocks}, (unused pools, pool size),
    {(free list, item count or None): free objects})."""
    blocks, unused, lists = {}, (0, 0), {}
    for line in text.splitlines():
        match = _CLASS.match(line)
        if match:
            _, size, _, _, avail = (int(group) for group in match.groups())
            if avail:
                blocks[size] = avail
            continue
        match = _UNUSED.match(line)
        if match:
            unused = (int(match.group(1)), int(match.group(2)))
            continue
        match = _FREE.match(line)
        if match:
            count, items, kind = int(match.group(1)), match.group(2), match.group(3)
            if count:
                lists[(kind, int(items) if items else None)] = count
    return blocks, unused, lists


def chunks(text):
    """From glibc's malloc_info report of the main heap: [(chunk size, free chunks)]."""
    heap = text.split("</heap>", 1)[0]
    return [(int(low) - 1, int(count)) for low, _, count in _CHUNKS.findall(heap) if int(count)]


TCACHE = (32, 1040, 7)  # glibc's per-thread cache: chunk sizes from 32 to 1040 bytes, 7 of each


def _malloc_report(libc):
    buffer, size = ctypes.c_char_p(), ctypes.c_size_t()
    stream = libc.open_memstream(ctypes.byref(buffer), ctypes.byref(size))
    if not stream:
        raise OSError("open_memstream")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    text = buffer.value.decode()
    libc.free(buffer)
    return text


def fill_heap():
    """The same for glibc malloc (objects larger than obmalloc's blocks: dict tables, long lists,
    most code objects): its per-thread cache and the main heap's free chunks are taken. Returns
    the number of chunks taken (0 without glibc)."""
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.open_memstream.restype = ctypes.c_void_p
        libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)]
        libc.fclose.argtypes = [ctypes.c_void_p]
        libc.free.argtypes = [ctypes.c_char_p]
        malloc = libc.malloc
        malloc.restype = ctypes.c_void_p
        malloc.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return 0
    low, high, depth = TCACHE
    taken = 0
    for size in range(low, high + 1, 16):
        for _ in range(depth):
            malloc(size - 8)
        taken += depth
    for _ in range(3):  # taking a larger chunk in part leaves its rest free: again
        found = chunks(_malloc_report(libc))
        if not found:
            break
        for size, count in found:
            for _ in range(count):
                malloc(size - 8)
            taken += count
    return taken


def _stats():
    """sys._debugmallocstats's report (it writes to the C stderr)."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        return out.read().decode(errors="replace")


def supported():
    return sys.implementation.name == "cpython" and hasattr(sys, "_debugmallocstats")


# free list → how to take one object out of it
_MAKERS = {
    ("PyDictObject", None): lambda: {},
    ("PyListObject", None): lambda: [],
    ("PyFloatObject", None): lambda: float("1.5"),
}


def _take_free_lists(lists):
    for (kind, items), count in lists.items():
        if kind == "PyTupleObject" and items:
            make = (lambda n: lambda: tuple([None] * n))(items)
        else:
            make = _MAKERS.get((kind, items))
        if make is not None:
            _kept.extend(make() for _ in range(count))


def fill():
    """Take the zygote allocators' free blocks, free-list objects and free malloc chunks for
    good. Returns the number of blocks and chunks taken (0 where unsupported)."""
    if not supported():
        return 0
    try:
        _, _, lists = parse(_stats())
        _take_free_lists(lists)
        malloc = ctypes.pythonapi.PyObject_Malloc
        malloc.restype = ctypes.c_void_p
        malloc.argtypes = [ctypes.c_size_t]
        taken = 0
        for _ in range(3):  # what the calls below allocate themselves leaves a few holes again
            blocks, _, _ = parse(_stats())
            if not blocks:
                break
            for size, count in blocks.items():
                for _ in range(count):
                    malloc(size)
                taken += count
        return taken + fill_heap()
    except (OSError, AttributeError, ValueError):
        return 0
