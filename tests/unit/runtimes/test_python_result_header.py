"""The managed Python runtime's RESULT header: the peak RSS it reports (REPORT's Max Memory Used)
is the whole process's, whichever thread touched the memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[3] / "src" / "lamina" / "runtimes" / "python"

PROBE = """
import json, resource, sys, threading
sys.path.insert(0, sys.argv[1])
import bootstrap
before = json.loads(bootstrap._result_header("application/json"))["rss"]
held = []
# more than the peak so far: a child's starts at what its parent held when it forked (pytest's, here)
size = (before << 10) + (256 << 20)
def touch():
    block = bytearray(size)
    block[::4096] = b"x" * len(range(0, len(block), 4096))
    held.append(block)
thread = threading.Thread(target=touch)
thread.start()
thread.join()
peak = json.loads(bootstrap._result_header("application/json"))["rss"]
print(json.dumps([before, size >> 10, peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  bootstrap._result_header("text/plain")]))
"""


def test_the_peak_counts_what_another_thread_touched():
    out = subprocess.run([sys.executable, "-c", PROBE, str(RUNTIME)], capture_output=True, check=True, text=True)
    before, touched, peak, whole, other = json.loads(out.stdout)
    assert peak > before and peak >= touched  # kB: what the other thread touched
    assert peak == whole
    assert other == {"ct": "text/plain", "rss": peak}
