"""CPU of the log writer's `LogStore.append` per warm invoke, in process: batches as the writer
thread takes them (0.1 s worth at `--rate` invokes/s over `--streams` environments' streams, each
invoke one LogBatch of START, END and REPORT as PlatformEvents, plus `--output` lines of function
output), appended to an SQLite database in a temporary data dir that already holds `--rows` events.

Run: .venv/bin/python bench/logs_append.py [--rate 3000] [--streams 8] [--batches 100] [--profile]
     .venv/bin/python bench/logs_append.py --against SRC [--rounds 20] [--batches 10]
Prints µs of thread CPU per invoke (median of the batches, and the mean), and with --profile the
top of a cProfile of the appends. With --against, two child processes (this tree's package and the
one in SRC, another checkout's src directory) each keep their database, and rounds of `--batches`
appends alternate between them (the host's load hits both alike); prints each one's median of the
round medians and the paired difference.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=3000, help="invokes per second (a batch is 0.1 s worth)")
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--output", type=int, default=0, help="function output lines per invoke")
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--rows", type=int, default=100_000, help="events stored before measuring")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--against", metavar="SRC")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--src", default=SRC, help=argparse.SUPPRESS)  # the package a child measures
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # a child of --against
    return parser.parse_args()


def measure(args: argparse.Namespace) -> None:
    sys.path.insert(0, args.src)
    from lamina.engine import report
    from lamina.engine.spec import LogBatch, LogEvent, PlatformEvent
    from lamina.store.database import open_database, sqlite_url
    from lamina.store.logs import LogStore

    per_batch = args.rate // 10
    group = "/aws/lambda/noop"
    streams = [report.stream_name("$LATEST", uuid.uuid4().hex, time.time()) for _ in range(args.streams)]

    def invoke_batch(stream: str) -> LogBatch:
        rid = str(uuid.uuid4())
        now = int(time.time() * 1000)
        events: list = [PlatformEvent.of(now, report.start, (rid, "$LATEST"))]
        events += [LogEvent(now, f"an output line of the handler, number {i}\n") for i in range(args.output)]
        events.append(PlatformEvent.of(now, report.end, (rid,)))
        events.append(PlatformEvent.of(now, report.report, (rid, 0.83, 1, 128, 41, None, "success", None)))
        return LogBatch(group, stream, tuple(events))

    def batches() -> list[LogBatch]:
        return [invoke_batch(streams[i % len(streams)]) for i in range(per_batch)]

    with tempfile.TemporaryDirectory() as tmp:
        from pathlib import Path

        engine = open_database(sqlite_url(Path(tmp)))
        store = LogStore(engine)
        for _ in range(args.rows // (per_batch * (3 + args.output)) + 1):
            store.append(batches())
        profile = cProfile.Profile() if args.profile else None

        def round_() -> list[float]:
            samples = []
            for _ in range(args.batches):
                work = batches()
                if profile:
                    profile.enable()
                start = time.thread_time_ns()
                store.append(work)
                samples.append((time.thread_time_ns() - start) / per_batch / 1000)
                if profile:
                    profile.disable()
            return samples

        if args.serve:  # one round per line read, its samples written back
            for _ in sys.stdin:
                print(json.dumps(round_()), flush=True)
        else:
            samples = round_()
            print(json.dumps({"figure": "log_append_cpu_us_per_invoke", "median": round(statistics.median(samples), 2),
                              "mean": round(statistics.mean(samples), 2), "invokes_per_batch": per_batch,
                              "streams": args.streams, "output": args.output, "src": args.src}), flush=True)
        engine.dispose()
    if profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)


def compare(args: argparse.Namespace) -> None:
    passed = [a for a in sys.argv[1:] if a not in ("--against", args.against)]
    trees = {"this": SRC, "against": args.against}
    children = {label: subprocess.Popen([sys.executable, __file__, "--serve", "--src", src, *passed],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                for label, src in trees.items()}
    figures: dict[str, list[float]] = {label: [] for label in trees}
    try:
        for index in range(args.rounds):
            for label in (("this", "against") if index % 2 == 0 else ("against", "this")):
                child = children[label]
                child.stdin.write("round\n")
                child.stdin.flush()
                figures[label].append(statistics.median(json.loads(child.stdout.readline())))
    finally:
        for child in children.values():
            child.stdin.close()
            child.wait()
    paired = [b - t for t, b in zip(figures["this"], figures["against"], strict=True)]
    for label, src in trees.items():
        print(json.dumps({"figure": "log_append_cpu_us_per_invoke", "tree": src,
                          "median": round(statistics.median(figures[label]), 2),
                          "rounds": [round(x, 1) for x in figures[label]]}))
    print(json.dumps({"figure": "log_append_cpu_saved_us_per_invoke", "paired_median": round(statistics.median(paired), 2),
                      "lower_in": sum(x > 0 for x in paired), "rounds": len(paired),
                      "load": round(os.getloadavg()[0], 1)}))


def main() -> int:
    args = arguments()
    if args.against and not args.serve:
        compare(args)
    else:
        measure(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
