"""The log writer's CPU per sequential warm invoke (and the main thread's, and the rest of the
server's threads'), this tree against another, from /proc/PID/task/TID/schedstat (ns). Python 3.11
does not name its threads for the OS, so each server starts with a sitecustomize (in a temporary
directory first on PYTHONPATH) that gives every threading.Thread its Python name (prctl
PR_SET_NAME, 15 bytes): the log writer is `lamina-logs`. Rounds alternate between the two servers.

Run: .venv/bin/python bench/logs_cpu_ab.py --against SRC [--rounds 12] [--requests 3000]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile

from common import SRC, create_function, emit, emit_saved, paired_arguments, start_lamina, stop_all
from invoke import INVOKE_PATH, NOOP, sequential

NAMING = '''
import ctypes, threading
_prctl = ctypes.CDLL(None).prctl
_inner = threading.Thread._bootstrap_inner
def _named(self):
    _prctl(15, ctypes.c_char_p(self.name.encode()[:15]), 0, 0, 0)
    _inner(self)
threading.Thread._bootstrap_inner = _named
'''
WRITER = "lamina-logs"


def cpu_ns(pid: int) -> dict[str, int]:
    """CPU of `pid`'s threads so far in ns: the main thread, the log writer and all the others."""
    found = {"main": 0, "logs": 0, "other": 0}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        found["main" if tid == str(pid) else "logs" if name == WRITER else "other"] += ns
    return found


def main() -> int:
    args = paired_arguments(rounds=12, requests=3000)
    trees = {"this": SRC, "against": args.against}
    path = INVOKE_PATH.format(name="noop")
    processes, servers = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        site = os.path.join(tmp, "site")
        os.makedirs(site)
        with open(os.path.join(site, "sitecustomize.py"), "w") as f:
            f.write(NAMING)
        try:
            for label, src in trees.items():
                process, port = start_lamina(os.path.join(tmp, label), env={"PYTHONPATH": f"{site}:{src}"})
                processes.append(process)
                create_function(port, "noop", NOOP, args.runtime)
                sequential(port, path, 500)
                servers[label] = process.pid, port
                if not cpu_ns(process.pid)["logs"]:
                    raise RuntimeError(f"no thread named {WRITER} in {label}'s server")
            figures = {label: {"main": [], "logs": [], "other": []} for label in trees}
            for index in range(args.rounds):
                for label in (("this", "against") if index % 2 == 0 else ("against", "this")):
                    pid, port = servers[label]
                    before = cpu_ns(pid)
                    sequential(port, path, args.requests)
                    after = cpu_ns(pid)
                    for key in figures[label]:
                        figures[label][key].append((after[key] - before[key]) / args.requests / 1000)
            for label in trees:
                emit(figure="thread_cpu_us_per_invoke", tree=label if label == "this" else args.against,
                     **{key: round(statistics.median(values), 1) for key, values in figures[label].items()},
                     logs_rounds=[round(x, 1) for x in figures[label]["logs"]],
                     main_rounds=[round(x) for x in figures[label]["main"]])
            emit_saved("log_writer_cpu_saved_us_per_invoke", figures["this"]["logs"], figures["against"]["logs"])
        finally:
            stop_all(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
