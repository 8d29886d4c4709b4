"""Warm sync invoke p50 and 8-client throughput of this tree and of another tree's lamina, next to
the bare uvicorn hello-world, in alternating rounds of one run (issue 18's warm rows, A/B).

Run: .venv/bin/python bench/warm_ab.py --against SRC [--rounds 5] [--requests 2000] [--seconds 3]
SRC is another checkout's src directory. Each round measures the bare server, then both trees in
an order that alternates between rounds, so the host's load hits each alike. Prints one JSON line
per round and one with the medians of each figure and of its ratio to the same round's bare server.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

from common import create_function, emit, start_lamina, start_reference, stop_all, throughput
from invoke import INVOKE_PATH, NOOP, sequential


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", metavar="SRC", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3, help="of each throughput window (0: none)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runtime", default="python3.12")
    args = parser.parse_args()
    path = INVOKE_PATH.format(name="noop")
    with tempfile.TemporaryDirectory() as tmp:
        processes = []
        try:
            reference, ref_port = start_reference(tmp)
            processes.append(reference)
            ports = {}
            for label, env in (("this", {}), ("against", {"PYTHONPATH": args.against})):
                process, port = start_lamina(os.path.join(tmp, f"data-{label}"), env=env)
                processes.append(process)
                create_function(port, "noop", NOOP, args.runtime)
                sequential(port, path, 200)
                if args.seconds:  # one warm environment per client before any window is measured
                    throughput(port, path, args.clients, 1)
                ports[label] = port
            figures: dict[str, list[float]] = {}
            for index in range(args.rounds):
                row = {"bare_p50_ms": statistics.median(sequential(ref_port, "/", args.requests))}
                if args.seconds:
                    row["bare_rps"] = throughput(ref_port, "/", args.clients, args.seconds)
                for label in (("this", "against") if index % 2 == 0 else ("against", "this")):
                    p50 = statistics.median(sequential(ports[label], path, args.requests))
                    row[f"{label}_p50_ms"], row[f"{label}_p50_ratio"] = p50, p50 / row["bare_p50_ms"]
                    if args.seconds:
                        rps = throughput(ports[label], path, args.clients, args.seconds)
                        row[f"{label}_rps"], row[f"{label}_rps_ratio"] = rps, rps / row["bare_rps"]
                row = {key: round(value, 3) for key, value in row.items()}
                emit(figure="warm_ab_round", round=index, load=round(os.getloadavg()[0], 1), **row)
                for key, value in row.items():
                    figures.setdefault(key, []).append(value)
            emit(figure="warm_ab_median", against=args.against,
                 **{key: round(statistics.median(values), 3) for key, values in figures.items()})
        finally:
            stop_all(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
