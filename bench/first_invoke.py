"""The first invoke of a runtime after a server start: what users wait for once per start.

Run: .venv/bin/python bench/first_invoke.py [--rounds 3] [--runtimes python3.12,python3.11] [--gap 0]
     [--against SRC]
Each round, per runtime: a fresh server on a new data dir (the runtime image in the shared cache
dir, as for any user), create a function, wait `--gap` seconds, time its first invoke; then stop
the server, start it again on the same data dir and time the first invoke once /health answers.
The server runs with --verbose and its log is read for the zygote's start, phase by phase (its
interpreter and imports, preload, collect, immortalize, holes, freeze; ready, then the first
spare, all from the zygote's start). Prints one JSON line per round and per runtime a summary of
medians (ms). With `--against SRC` (another tree's src, e.g. from `git archive`), each round also
runs that tree (first or second in turn), so both are measured under the same load.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import statistics
import tempfile
import time

from common import create_function, emit, start_lamina, stop_all

HELLO = "def handler(event, context):\n    return {'ok': True}\n"
READY = re.compile(r"zygote for (\S+) ready in (\d+) ms \((.*)\)")
SPARE = re.compile(r"zygote for (\S+): first spare (\d+) ms")


def invoke_ms(port: int, name: str) -> float:
    begun = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", f"/2015-03-31/functions/{name}/invocations", body=b"{}")
    response = conn.getresponse()
    body = response.read()
    conn.close()
    took = (time.perf_counter() - begun) * 1000
    if response.status != 200 or response.getheader("X-Amz-Function-Error"):
        raise RuntimeError(f"invoke {name}: {response.status} {body[:300]!r}")
    return took


def zygote_phases(log_path: str) -> dict[str, float]:
    """The zygote's start as the server logged it (the last one in the log), in ms."""
    phases: dict[str, float] = {}
    with open(log_path, errors="replace") as lines:
        for line in lines:
            if (found := READY.search(line)) is not None:
                phases = {"ready": float(found.group(2))}
                for part in found.group(3).split(", "):
                    key, value = part.rsplit(" ", 1)
                    phases[key] = float(value)
            elif (found := SPARE.search(line)) is not None:
                phases["spare"] = float(found.group(2))
    return phases


def one_round(runtime: str, gap: float, src: str | None = None) -> dict:
    env = {"PYTHONPATH": src} if src else None
    with tempfile.TemporaryDirectory(prefix="lamina-first-") as data_dir:
        log_path = os.path.join(data_dir, "server.log")
        server, port = start_lamina(os.path.join(data_dir, "data"), env, args=("--verbose",), log_path=log_path)
        try:
            create_function(port, "first", HELLO, runtime)
            time.sleep(gap)
            after_create = invoke_ms(port, "first")
        finally:
            stop_all([server])
        create_phases = zygote_phases(log_path)
        open(log_path, "w").close()
        begun = time.perf_counter()
        server, port = start_lamina(os.path.join(data_dir, "data"), env, args=("--verbose",), log_path=log_path)
        health_ms = (time.perf_counter() - begun) * 1000
        try:
            time.sleep(gap)
            after_restart = invoke_ms(port, "first")
        finally:
            stop_all([server])
        return {"after_create_ms": round(after_create, 1), "after_restart_ms": round(after_restart, 1),
                "health_after_start_ms": round(health_ms, 1), "zygote_ms": create_phases,
                "zygote_restart_ms": zygote_phases(log_path)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runtimes", default="python3.12,python3.11")
    parser.add_argument("--gap", type=float, default=0.0, help="seconds between create (or start) and the invoke")
    parser.add_argument("--against", metavar="SRC", help="another tree's src, measured in the same rounds")
    args = parser.parse_args()
    trees = {"this": None, **({"against": args.against} if args.against else {})}
    for runtime in args.runtimes.split(","):
        rounds: dict[str, list[dict]] = {tree: [] for tree in trees}
        for number in range(args.rounds):
            order = list(trees) if number % 2 == 0 else list(reversed(trees))
            for tree in order:
                figures = one_round(runtime, args.gap, trees[tree])
                emit(figure="first_invoke_round", tree=tree, runtime=runtime, round=number, gap_s=args.gap, **figures)
                rounds[tree].append(figures)
        for tree, measured in rounds.items():
            phases = sorted({key for r in measured for key in r["zygote_ms"]})
            emit(figure="first_invoke", tree=tree, runtime=runtime, rounds=args.rounds, gap_s=args.gap,
                 after_create_ms=statistics.median(r["after_create_ms"] for r in measured),
                 after_restart_ms=statistics.median(r["after_restart_ms"] for r in measured),
                 health_after_start_ms=statistics.median(r["health_after_start_ms"] for r in measured),
                 zygote_ms={key: statistics.median(r["zygote_ms"].get(key, 0.0) for r in measured) for key in phases})


if __name__ == "__main__":
    main()
