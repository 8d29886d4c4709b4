"""CPU per warm invoke, per thread: what the server's main thread, its other threads and the
runtime's process tree spend on one sequential warm Invoke, next to the bare uvicorn hello-world
measured in the same run.

Run: .venv/bin/python bench/warm_cpu.py [--requests 5000] [--rounds 3] [--against SRC] [--floor]
With --against, a second lamina runs the package in SRC (another checkout's src directory) and
the rounds alternate between the servers, so the host's load hits each alike. With --floor, the
relay of bench/floor.py (the bare server with one hop to a plain worker process) is measured too:
the CPU any design that runs the function in another process spends at least.
Reads user and system ticks of every thread (/proc/PID/task/TID/stat) before and after each
round of sequential requests; CPU time is what a loaded host distorts least (wall time waits for
the scheduler). Prints one JSON line per round and one with the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

from common import create_function, emit, start_lamina, start_reference, stop_all
from floor import start_relay
from invoke import INVOKE_PATH, NOOP, sequential, tree

TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")


def ticks(pid: int) -> dict[str, tuple[int, int]]:
    """(user, system) ticks of each thread of `pid`, by thread name (same names summed)."""
    found: dict[str, tuple[int, int]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = "main" if tid == str(pid) else stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        user, system = found.get(name, (0, 0))
        found[name] = (user + int(fields[11]), system + int(fields[12]))
    return found


def snapshot(root: int) -> dict[str, tuple[int, int]]:
    """The server's threads by name, and its descendants (zygotes, sandboxes, runtimes) as one."""
    out = {f"server/{name}": value for name, value in ticks(root).items()}
    user = system = 0
    for pid in tree(root):
        if pid != root:
            for u, s in ticks(pid).values():
                user, system = user + u, system + s
    out["runtime tree"] = (user, system)
    return out


def per_request(before: dict, after: dict, count: int) -> dict[str, dict[str, float]]:
    out = {}
    for name, (user, system) in after.items():
        u0, s0 = before.get(name, (0, 0))
        du, ds = (user - u0) * TICK_US / count, (system - s0) * TICK_US / count
        if du or ds:
            out[name] = {"user": round(du, 1), "sys": round(ds, 1), "total": round(du + ds, 1)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runtime", default="python3.12")
    parser.add_argument("--against", metavar="SRC", help="also measure the lamina whose package is in SRC")
    parser.add_argument("--floor", action="store_true", help="also measure bench/floor.py's relay")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        processes = []
        try:
            reference, ref_port = start_reference(tmp)
            processes.append(reference)
            servers = {}
            for label, env in (("lamina", {}), ("against", {"PYTHONPATH": args.against})):
                if label == "against" and not args.against:
                    continue
                process, port = start_lamina(os.path.join(tmp, f"data-{label}"), env=env)
                processes.append(process)
                create_function(port, "noop", NOOP, args.runtime)
                sequential(port, INVOKE_PATH.format(name="noop"), 200)
                servers[label] = process.pid, port
            paths = {label: INVOKE_PATH.format(name="noop") for label in servers}
            if args.floor:
                relay, relay_port = start_relay(tmp)
                processes.append(relay)
                sequential(relay_port, "/", 200)
                servers["relay"], paths["relay"] = (relay.pid, relay_port), "/"
            sequential(ref_port, "/", 200)
            rounds: dict[str, list[float]] = {}
            for index in range(args.rounds):
                before = snapshot(reference.pid)
                sequential(ref_port, "/", args.requests)
                figures = {"reference": per_request(before, snapshot(reference.pid), args.requests + 50)}
                rounds.setdefault("reference", []).append(sum(v["total"] for v in figures["reference"].values()))
                for label, (pid, port) in servers.items():
                    before = snapshot(pid)
                    sequential(port, paths[label], args.requests)
                    figures[label] = per_request(before, snapshot(pid), args.requests + 50)
                    for name, value in figures[label].items():
                        rounds.setdefault(f"{label} {name}", []).append(value["total"])
                emit(figure="warm_cpu_us_per_request", round=index, load=os.getloadavg()[0], **figures)
            emit(figure="warm_cpu_us_per_request_median",
                 **{name: round(statistics.median(values), 1) for name, values in rounds.items()})
        finally:
            stop_all(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
