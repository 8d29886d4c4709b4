"""The zygote's filling of its allocator's free memory before forking (runtimes/sandbox/_holes.py):
the report is read right, and after fill() the size classes and free lists have (almost) nothing
free left for an environment's first allocations to land in. fill() runs in a child process, as
in a zygote, so this test's own interpreter is left alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SANDBOX = Path(__file__).resolve().parents[3] / "src" / "lamina" / "runtimes" / "sandbox"
sys.path.insert(0, str(SANDBOX))

import _holes  # noqa: E402

REPORT = """Small block threshold = 512, in 32 size classes.

class   size   num pools   blocks in use  avail blocks
-----   ----   ---------   -------------  ------------
    0     16           1              27           994
    1     32           1             492             0
   24    400           3              85            35

# arenas allocated total           =                    2
54 unused pools * 16384 bytes      =              884,736

           14 free PyDictObjects * 48 bytes each =                  672
            0 free PyListObjects * 40 bytes each =                    0
   8 free 2-sized PyTupleObjects * 40 bytes each =                  320
"""


def test_parse():
    blocks, unused, lists = _holes.parse(REPORT)
    assert blocks == {16: 994, 400: 35}
    assert unused == (54, 16384)
    assert lists == {("PyDictObject", None): 14, ("PyTupleObject", 2): 8}


def test_parse_unknown_text():
    assert _holes.parse("nothing like it") == ({}, (0, 0), {})


CHILD = f"""
import json, sys
sys.path.insert(0, {str(SANDBOX)!r})
import _holes
import email.parser, http.client, logging  # a few modules' worth of objects, then holes
garbage = [[str(i) * 3, {{i: (i, i)}}] for i in range(20000)]
del garbage[::2]
before = _holes.parse(_holes._stats())
taken = _holes.fill()
after = _holes.parse(_holes._stats())
print(json.dumps([sum(before[0].values()), taken, sum(after[0].values()), sum(after[2].values())]))
"""


def test_fill_takes_the_free_blocks():
    if not _holes.supported():
        return
    out = subprocess.run([sys.executable, "-c", CHILD], check=True, capture_output=True, text=True).stdout
    free_before, taken, free_after, listed_after = json.loads(out)
    assert free_before > 10000
    assert taken >= free_before
    # what reading the report allocates itself leaves a few holes again: a page's worth per class
    assert free_after < free_before / 5
    assert listed_after < 200


MALLOC_INFO = """<malloc version="1">
<heap nr="0">
<sizes>
  <size from="33" to="33" total="66" count="2"/>
  <size from="1329" to="1329" total="1329" count="1"/>
  <size from="3953" to="4081" total="0" count="0"/>
</sizes>
</heap>
<heap nr="1">
<sizes>
  <size from="49" to="49" total="196" count="4"/>
</sizes>
</heap>
</malloc>
"""


def test_chunks_of_the_main_heap():
    assert _holes.chunks(MALLOC_INFO) == [(32, 2), (1328, 1)]
