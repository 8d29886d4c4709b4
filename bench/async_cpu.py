"""CPU per accepted Event invoke, by where it is spent, with the queue's workers paused and running.

Run: .venv/bin/python bench/async_cpu.py [--seconds 5] [--clients 8] [--rounds 2]
For each round, and each mode (paused: LAMINA_ASYNC_WORKERS=0, so acceptance alone; running: the
default, the accepted events also run), starts lamina, sends Event invokes of a no-op function from
`--clients` processes for `--seconds`, and prints one JSON line: accepted events/s and the CPU
(/proc/PID/task/*/stat, utime+stime) per accepted event of the server's main thread, its other
threads (queue database thread, log writer, ...), and its descendant processes (the function's
environments). A bare uvicorn hello-world answering the same requests in the same round is the
reference (its CPU per request, and its requests/s).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

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


def measure(tmp: str, mode: str, args) -> None:
    env = {"LAMINA_ASYNC_WORKERS": "0"} if mode == "paused" else {}
    process, port = start_lamina(os.path.join(tmp, f"data-{mode}"), env)
    try:
        create_function(port, "sink", "def handler(event, context):\n    return None\n", args.runtime)
        throughput(port, PATH, args.clients, 0.5, body=b'{"t": 0}', headers=EVENT, ok=202)  # warm the path
        before, kids_before = threads_cpu(process.pid), descendants_cpu(process.pid)
        rps = throughput(port, PATH, args.clients, args.seconds, body=b'{"t": 0}', headers=EVENT, ok=202)
        after, kids_after = threads_cpu(process.pid), descendants_cpu(process.pid)
        accepted = rps * args.seconds
        emit(figure="async_cpu_per_event", mode=mode, rps=round(rps), accepted=round(accepted),
             main_us=round((after["main"] - before["main"]) / accepted * 1e6, 1),
             threads_us=round((after["threads"] - before["threads"]) / accepted * 1e6, 1),
             environments_us=round((kids_after - kids_before) / accepted * 1e6, 1))
    finally:
        stop_all([process])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runtime", default="python3.12")
    parser.add_argument("--modes", default="paused,running")
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
            for mode in args.modes.split(","):
                measure(tmp, mode, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
