"""Main-thread and other-thread CPU per sequential warm invoke, this tree against another, from
/proc/PID/task/TID/schedstat (nanoseconds of CPU; warm_cpu.py's ticks are 10 ms each, too coarse
for a few µs per invoke on a loaded host). Rounds alternate between the two servers; prints each
tree's medians and the paired difference.

Run: .venv/bin/python bench/main_cpu_ab.py --against SRC [--rounds 12] [--requests 3000]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile

from common import SRC, create_function, emit, emit_saved, paired_arguments, start_lamina, stop_all
from invoke import INVOKE_PATH, NOOP, sequential


def cpu_ns(pid: int) -> tuple[int, int]:
    """(main thread, all other threads) CPU of `pid` so far, in ns."""
    main = other = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
        except OSError:
            continue
        if tid == str(pid):
            main += ns
        else:
            other += ns
    return main, other


def main() -> int:
    args = paired_arguments(rounds=12, requests=3000)
    here = SRC
    trees = {"this": here, "against": args.against}
    path = INVOKE_PATH.format(name="noop")
    processes, servers = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for label, src in trees.items():
                process, port = start_lamina(os.path.join(tmp, label), env={"PYTHONPATH": src})
                processes.append(process)
                create_function(port, "noop", NOOP, args.runtime)
                sequential(port, path, 500)
                servers[label] = process.pid, port
            figures: dict[str, dict[str, list[float]]] = {label: {"main": [], "other": []} for label in trees}
            for index in range(args.rounds):
                for label in (("this", "against") if index % 2 == 0 else ("against", "this")):
                    pid, port = servers[label]
                    before = cpu_ns(pid)
                    sequential(port, path, args.requests)
                    after = cpu_ns(pid)
                    figures[label]["main"].append((after[0] - before[0]) / args.requests / 1000)
                    figures[label]["other"].append((after[1] - before[1]) / args.requests / 1000)
            for label in trees:
                emit(figure="thread_cpu_us_per_invoke", tree=label if label == "this" else args.against,
                     main=round(statistics.median(figures[label]["main"]), 1),
                     other=round(statistics.median(figures[label]["other"]), 1),
                     rounds=[round(x) for x in figures[label]["main"]])
            emit_saved("main_cpu_saved_us_per_invoke", figures["this"]["main"], figures["against"]["main"])
        finally:
            stop_all(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
