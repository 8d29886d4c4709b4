"""Scale benchmark: N concurrent sleeping invokes, each needing its own environment.

Run: .venv/bin/python bench/scale.py [--count 3000] [--sleep 2] [--runtime python3.12] [--timeout 60]
Starts lamina with LAMINA_CONCURRENCY_LIMIT=count, deploys one function that sleeps, fires
`count` invokes at once (one connection each, from an asyncio client so the client costs little)
and prints one JSON line per figure: answered / failed / unanswered requests (and which errors),
the latency distribution, the environments started (from /health), the host memory per warm
environment (the host's used memory with them all idle, minus before, divided by their number)
and the time a SIGTERM takes to stop the server with every environment warm. The target (issue
18/21): every request answered with a result, none unanswered, ≤ 3 MB host memory each.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import resource
import signal
import sys
import tempfile
import time

from common import create_function, emit, lambda_call, percentile, start_lamina

SLEEPER = "import time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 1\n"


BREAKDOWN = ("AnonPages", "Shmem", "Buffers", "SUnreclaim", "SReclaimable", "KernelStack", "PageTables", "Percpu")


def meminfo() -> dict[str, int]:
    """/proc/meminfo in kB."""
    fields = {}
    with open("/proc/meminfo") as lines:
        for line in lines:
            key, value = line.split(":", 1)
            fields[key] = int(value.split()[0])
    return fields


def slabs() -> dict[str, int]:
    """Each slab cache's active objects × object size, in bytes (/proc/slabinfo)."""
    sizes = {}
    with open("/proc/slabinfo") as lines:
        for line in lines:
            if line.startswith(("slabinfo", "#")):
                continue
            name, active, _, size = line.split()[:4]
            sizes[name] = sizes.get(name, 0) + int(active) * int(size)
    return sizes


def empty_cgroup_kb(count: int = 50) -> float | None:
    """The slab memory one more empty memory cgroup takes (kB): mostly the per-shrinker state
    sized by the highest shrinker id registered since boot (one per superblock), which every
    environment's cgroup pays as well, so the per-environment figures depend on what ran before."""
    v1 = "/sys/fs/cgroup/memory"
    base = os.path.join(v1 if os.path.isdir(v1) else "/sys/fs/cgroup", f"lamina-bench-probe-{os.getpid()}")
    try:
        os.mkdir(base)
    except OSError:
        return None
    try:
        before = sum(slabs().values())
        for index in range(count):
            os.mkdir(f"{base}/{index}")
        grown = sum(slabs().values()) - before
        return round(grown / count / 1024, 1)
    finally:
        for index in range(count):
            try:
                os.rmdir(f"{base}/{index}")
            except OSError:
                pass
        os.rmdir(base)


def used_memory_mb(fields: dict[str, int] | None = None) -> float:
    """The host's used memory (MemTotal − MemAvailable), in MB."""
    fields = fields or meminfo()
    return (fields["MemTotal"] - fields["MemAvailable"]) / 1024


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the zygotes' environments are reparented to them)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as listed:
                kids = [int(child) for child in listed.read().split()]
        except OSError:
            continue
        found += kids
        todo += kids
    return found


def pss_kb(pids: list[int]) -> int:
    """The summed proportional set size of `pids` (shared pages split among their sharers)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


async def invoke(port: int, path: str, body: bytes, deadline: float) -> tuple[str, float]:
    """One invoke on its own connection: ("ok" | an error name, seconds)."""
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"POST {path} HTTP/1.1\r\nHost: lamina\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        data = await asyncio.wait_for(reader.read(), max(0.1, deadline - time.monotonic()))
        writer.close()
    except TimeoutError:
        return "unanswered", time.perf_counter() - started
    except OSError as exc:
        return f"connection: {type(exc).__name__}", time.perf_counter() - started
    head, _, payload = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1].decode() if head else "none"
    if status != "200":
        return f"{status} {payload[:120].decode(errors='replace')}", time.perf_counter() - started
    if b"x-amz-function-error" in head.lower():
        return f"function error {payload[:120].decode(errors='replace')}", time.perf_counter() - started
    return "ok", time.perf_counter() - started


async def burst(port: int, count: int, sleep: float, wait: float) -> list[tuple[str, float]]:
    path = "/2015-03-31/functions/sleeper/invocations"
    body = json.dumps({"sleep": sleep}).encode()
    deadline = time.monotonic() + wait
    return await asyncio.gather(*(invoke(port, path, body, deadline) for _ in range(count)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--sleep", type=float, default=2.0, help="seconds each invoke sleeps")
    parser.add_argument("--timeout", type=int, default=300, help="the function's Timeout")
    parser.add_argument("--runtime", default="python3.12")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.count * 4 + 1024)), hard))
    with tempfile.TemporaryDirectory() as data_dir:
        env = {"LAMINA_CONCURRENCY_LIMIT": str(args.count), "LAMINA_IDLE_TIMEOUT": "3600"}
        process, port = start_lamina(data_dir, env)
        try:
            probe_before = empty_cgroup_kb()
            # measured before the create: the runtime's zygote (started when its first function is
            # created) is part of what the environments cost, as when it started at the first invoke
            before_fields, before_slabs = meminfo(), slabs()
            before = used_memory_mb(before_fields)
            before_pss = pss_kb([process.pid, *descendants(process.pid)])
            create_function(port, "sleeper", SLEEPER, args.runtime, Timeout=args.timeout, MemorySize=128)
            started = time.perf_counter()
            # every request must be answered within the function's timeout plus its cold start
            results = asyncio.run(burst(port, args.count, args.sleep, args.timeout + 30))
            elapsed = time.perf_counter() - started
            outcomes = collections.Counter(kind for kind, _ in results)
            latencies = [seconds for kind, seconds in results if kind == "ok"]
            emit(figure="concurrent invokes", count=args.count, answered_ok=outcomes.pop("ok", 0),
                 unanswered=outcomes.pop("unanswered", 0), failed=sum(outcomes.values()),
                 errors=dict(outcomes.most_common(5)), wall_s=round(elapsed, 2))
            if latencies:
                emit(figure="invoke latency with cold start", p50_s=round(percentile(latencies, 0.5), 3),
                     p99_s=round(percentile(latencies, 0.99), 3), max_s=round(max(latencies), 3))
            stats = lambda_call(port, "GET", "/health").get("counts", {})
            environments = stats.get("environments", 0)
            time.sleep(2)  # let exits, log flushes and page reclaim settle
            after_fields, after_slabs = meminfo(), slabs()
            after = used_memory_mb(after_fields)
            pss = pss_kb([process.pid, *descendants(process.pid)]) - before_pss
            emit(figure="warm environments", environments=environments, idle=stats.get("idle"),
                 host_memory_mb=round(after - before, 1),
                 per_environment_mb=round((after - before) / environments, 2) if environments else None,
                 pss_per_environment_mb=round(pss / 1024 / environments, 2) if environments else None,
                 target_per_environment_mb=3.0)
            if environments:  # where the host memory went, per environment (kB)
                emit(figure="memory per environment by kind (kB)",
                     **{key: round((after_fields.get(key, 0) - before_fields.get(key, 0)) / environments)
                        for key in BREAKDOWN})
                grown = {name: (after_slabs.get(name, 0) - before_slabs.get(name, 0)) / environments
                         for name in after_slabs}
                top = sorted(grown.items(), key=lambda item: -item[1])[:12]
                emit(figure="slab caches grown per environment (bytes)",
                     **{name: round(value) for name, value in top})
            emit(figure="slab memory of one more empty memory cgroup (kB)", before=probe_before,
                 after=empty_cgroup_kb())
            stop_started = time.perf_counter()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=120)
            emit(figure="stop with every environment warm", seconds=round(time.perf_counter() - stop_started, 2),
                 exit_code=code)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
