"""CPU per accepted Event invoke, by where it is spent, with the queue's workers paused and running.

Run: .venv/bin/python bench/async_cpu.py [--seconds 5] [--clients 8] [--rounds 2]
For each round, and each mode (paused: LAMINA_ASYNC_WORKERS=0, so acceptance alone; running: the
default, the accepted events also run), starts lamina, sends Event invokes of a no-op function from
`--clients` processes for `--seconds`, and prints one JSON line: accepted events/s and the CPU
(/proc/PID/task/*/stat, utime+stime) per accepted event of the server's main thread, its other
threads (queue database thread, log writer, ...), and its descendant processes (the function's
environments). A bare uvicorn hello-world answering the same requests in the same round is the
reference (its CPU per request, and its requests/s). Each line also gives how many of the accepted
events ran during the window (`ran_per_s`, from /health's queuedEvents) and, in running mode, how
long the backlog took to drain after it (`drain_s`: every accepted event ran).
With --against SRC, each round also measures the lamina whose package is in SRC (another
checkout's src directory), alternating with this tree's, so the two compare in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request

from common import create_function, emit, start_lamina, start_reference, stop_all, throughput

PATH = "/2015-03-31/functions/sink/invocations"
EVENT = {"X-Amz-Invocation-Type": "Event"}
TICK = os.sysconf("SC_CLK_TCK")


def _ticks(stat_path: str) -> int:
    with open(stat_path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def threads_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the main thread and of the other threads of `pid`."""
    main = other = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            ticks = _ticks(f"/proc/{pid}/task/{tid}/stat")
        except OSError:
            continue
        if int(tid) == pid:
            main += ticks
        else:
            other += ticks
    return {"main": main / TICK, "threads": other / TICK}


def descendants_cpu(pid: int) -> float:
    """CPU seconds of every live descendant process of `pid` (their own and their reaped children's)."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent_of[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    total = 0
    for child in parent_of:
        ancestor = parent_of.get(child)
        while ancestor is not None and ancestor != pid and ancestor > 1:
            ancestor = parent_of.get(ancestor)
        if ancestor == pid:
            try:
                with open(f"/proc/{child}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
            except OSError:
                continue
    return total / TICK


def queued(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health") as response:
        return json.load(response)["counts"]["queuedEvents"]


def measure(tmp: str, mode: str, args, tree: str, src: str | None, ref_rps: float) -> None:
    env = {"LAMINA_ASYNC_WORKERS": "0"} if mode == "paused" else {}
    if src:
        env["PYTHONPATH"] = src
    process, port = start_lamina(os.path.join(tmp, f"data-{tree}-{mode}"), env)
    try:
        create_function(port, "sink", "def handler(event, context):\n    return None\n", args.runtime)
        throughput(port, PATH, args.clients, 0.5, body=b'{"t": 0}', headers=EVENT, ok=202)  # warm the path
        while mode == "running" and queued(port):
            time.sleep(0.1)
        before, kids_before = threads_cpu(process.pid), descendants_cpu(process.pid)
        rps = throughput(port, PATH, args.clients, args.seconds, body=b'{"t": 0}', headers=EVENT, ok=202)
        after, kids_after = threads_cpu(process.pid), descendants_cpu(process.pid)
        accepted = rps * args.seconds
        waiting, ended = queued(port), time.monotonic()
        drain = None
        if mode == "running":
            while queued(port) and time.monotonic() - ended < args.drain_limit:
                time.sleep(0.05)
            drain = round(time.monotonic() - ended, 2) if not queued(port) else None
        emit(figure="async_cpu_per_event", tree=tree, mode=mode, rps=round(rps), accepted=round(accepted),
             ratio_to_reference=round(rps / ref_rps, 3),
             main_us=round((after["main"] - before["main"]) / accepted * 1e6, 1),
             threads_us=round((after["threads"] - before["threads"]) / accepted * 1e6, 1),
             environments_us=round((kids_after - kids_before) / accepted * 1e6, 1),
             ran_per_s=round((accepted - waiting) / args.seconds) if mode == "running" else None, drain_s=drain)
    finally:
        stop_all([process])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runtime", default="python3.12")
    parser.add_argument("--modes", default="paused,running")
    parser.add_argument("--against", metavar="SRC", help="also measure the lamina whose package is in SRC")
    parser.add_argument("--drain-limit", type=float, default=120, help="most seconds to wait for the backlog")
    args = parser.parse_args()
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
            reference, ref_port = start_reference(tmp)
            try:
                before = threads_cpu(reference.pid)
                ref_rps = throughput(ref_port, "/", args.clients, args.seconds, body=b'{"t": 0}', headers=EVENT)
                after = threads_cpu(reference.pid)
                emit(figure="reference_cpu_per_request", round=round_, rps=round(ref_rps),
                     main_us=round((after["main"] - before["main"]) / (ref_rps * args.seconds) * 1e6, 1))
            finally:
                stop_all([reference])
            trees = [("lamina", None), ("against", args.against)] if args.against else [("lamina", None)]
            if round_ % 2:
                trees.reverse()
            for mode in args.modes.split(","):
                for tree, src in trees:
                    measure(tmp, mode, args, tree, src, ref_rps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
