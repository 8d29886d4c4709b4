"""Invoke benchmark: warm latency, throughput and cold start of lamina, next to a bare uvicorn
hello-world measured in the same run with the same client.

Run: .venv/bin/python bench/invoke.py [--warm 2000] [--seconds 10] [--clients 8] [--cold 100] [--backends ...]
    [--deployed 1000] [--no-auth] [--only-cold [--against SRC]]
Prints one JSON line per figure, then one `issue18_row` line per row of issue 18's table that this
script measures, each next to its reference from the same run (Event acceptance: bench/async.py;
concurrent environments: bench/scale.py). Targets (issue 18; ratios, as this machine is noisy):
warm p50 ≤ 1.5× the bare server's; throughput with 8 clients ≥ 0.5× the bare server's; warm p50
with `--deployed` functions deployed within 1.1× of the p50 with one (the server's per-invoke
overhead stays flat); cold start p50 ≤ 10 ms on the namespaces backend; idle
environment ≤ 10 MB PSS; SigV4 verification (a second server with --auth sigv4, measured in
alternating rounds with the unauthenticated one) adds ≤ 0.1 ms to the warm p50. The signed request
is signed once and replayed, so the figure is the server's verification cost, not the client's
signing. `--only-auth` measures just that comparison.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

from common import (
    create_function,
    emit,
    lambda_call,
    percentile,
    start_lamina,
    start_reference,
    stop_all,
    throughput,
    wait_settled,
)

NOOP = "def handler(event, context):\n    return event\n"
SLEEPER = "import time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 1\n"
INVOKE_PATH = "/2015-03-31/functions/{name}/invocations"


def timed_post(conn: http.client.HTTPConnection, path: str, headers: dict | None = None) -> float:
    start = time.perf_counter()
    conn.request("POST", path, body=b"{}", headers=headers or {})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"status {response.status}")
    return (time.perf_counter() - start) * 1000


def sequential(port: int, path: str, count: int, headers: dict | None = None) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    samples = [timed_post(conn, path, headers) for _ in range(count + 50)]
    conn.close()
    return samples[50:]


def signed_server(tmp: str, runtime: str, processes: list) -> tuple[int, dict]:
    """A lamina with --auth sigv4 running `noop`, and the headers of one signed Invoke of it."""
    import configparser

    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    data_dir = os.path.join(tmp, "data-auth")
    process, port = start_lamina(data_dir, env={"LAMINA_AUTH": "sigv4"})
    processes.append(process)
    profile = configparser.ConfigParser()
    profile.read(os.path.join(data_dir, "credentials"))
    key, secret = profile["lamina"]["aws_access_key_id"], profile["lamina"]["aws_secret_access_key"]
    url = f"http://127.0.0.1:{port}"

    def client(service):
        return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                            aws_secret_access_key=secret)

    trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},' \
            '"Action":"sts:AssumeRole"}]}'
    role = client("iam").create_role(RoleName="bench", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    lam = client("lambda")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", NOOP)
    lam.create_function(FunctionName="noop", Runtime=runtime, Handler="app.handler", Role=role,
                        Code={"ZipFile": buffer.getvalue()})
    lam.get_waiter("function_active_v2").wait(FunctionName="noop", WaiterConfig={"Delay": 1})
    request = AWSRequest(method="POST", url=url + INVOKE_PATH.format(name="noop"), data=b"{}")
    SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(request)
    return port, dict(request.prepare().headers)


def auth_cost(tmp: str, port: int, args, processes: list) -> None:
    """Warm invoke p50 with auth on next to auth off, in alternating rounds (noise hits both alike)."""
    auth_port, headers = signed_server(tmp, args.runtime, processes)
    path = INVOKE_PATH.format(name="noop")
    off, on = [], []
    for _ in range(args.auth_rounds):
        off += sequential(port, path, args.warm // args.auth_rounds)
        on += sequential(auth_port, path, args.warm // args.auth_rounds, headers)
    p50_off, p50_on = percentile(off, 0.5), percentile(on, 0.5)
    emit(figure="warm_invoke_auth_ms", auth="none", p50=round(p50_off, 3), p99=round(percentile(off, 0.99), 3),
         n=len(off))
    emit(figure="warm_invoke_auth_ms", auth="sigv4", p50=round(p50_on, 3), p99=round(percentile(on, 0.99), 3),
         n=len(on), added_p50_ms=round(p50_on - p50_off, 3), target_added_p50_ms=0.1)


def deploy_many(port: int, count: int, runtime: str) -> None:
    """`count` more functions (the same tiny zip, so one unpacked copy), created 8 at a time."""
    import base64
    import concurrent.futures

    from common import ROLE
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", NOOP)
    code = base64.b64encode(buffer.getvalue()).decode()

    def create(index: int) -> None:
        lambda_call(port, "POST", "/2015-03-31/functions", {
            "FunctionName": f"extra-{index:05d}", "Runtime": runtime, "Handler": "app.handler", "Role": ROLE,
            "Code": {"ZipFile": code}})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(count)))
    wait_settled(port, f"extra-{count - 1:05d}")


def rounds_p50(paths: dict[str, tuple[int, str]], count: int, rounds: int) -> dict[str, float]:
    """p50 of each (port, path) measured in alternating rounds, so the host's noise hits each alike."""
    samples: dict[str, list[float]] = {label: [] for label in paths}
    for _ in range(rounds):
        for label, (port, path) in paths.items():
            samples[label] += sequential(port, path, max(1, count // rounds))
    return {label: percentile(values, 0.5) for label, values in samples.items()}


def row(name: str, value: float, reference: float | None, unit: str, *, ratio: float | None = None,
        target: str) -> None:
    """One row of issue 18's table: lamina's figure next to the reference measured in the same run."""
    emit(figure="issue18_row", row=name, lamina=round(value, 3), reference=None if reference is None else round(
        reference, 3), unit=unit, ratio=None if ratio is None else round(ratio, 3), target=target)


def _report_ms(tail: str, field: str) -> float:
    found = re.search(rf"\t{field}: ([0-9.]+) ms", tail)
    return float(found.group(1)) if found else 0.0


def cold_starts(port: int, name: str, count: int) -> tuple[list[float], dict[str, list[float]]]:
    """Each sample: change the configuration (retiring the warm environment), then time one invoke
    (asking for the log tail, whose REPORT line splits it: Init Duration from the start of the
    environment to its runtime's ready, Duration of the handler's run, and the rest spent in the
    invoke path around them)."""
    samples: list[float] = []
    parts: dict[str, list[float]] = {"init": [], "duration": [], "outside": []}
    for index in range(count):
        lambda_call(port, "PUT", f"/2015-03-31/functions/{name}/configuration", {"Description": f"cold {index}"})
        wait_settled(port, name)
        conn = http.client.HTTPConnection("127.0.0.1", port)
        start = time.perf_counter()
        conn.request("POST", INVOKE_PATH.format(name=name), body=b"{}", headers={"X-Amz-Log-Type": "Tail"})
        response = conn.getresponse()
        response.read()
        total = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
        tail = base64.b64decode(response.getheader("X-Amz-Log-Result") or "").decode(errors="replace")
        conn.close()
        samples.append(total)
        init, duration = _report_ms(tail, "Init Duration"), _report_ms(tail, "Duration")
        parts["init"].append(init)
        parts["duration"].append(duration)
        parts["outside"].append(total - init - duration)
    return samples, parts


def python_start(runs: int = 20) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def tree(root: int) -> list[int]:
    """`root` and all its descendants (by parent pid)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def pss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, ValueError):
            pass
    return total


def idle_memory(port: int, server_pid: int, name: str, count: int) -> float:
    """PSS added per idle warm environment: the server's whole process tree (zygotes, sandboxes,
    runtimes) with `count` environments, minus the tree before, divided by `count`."""
    before = pss_kb(tree(server_pid))
    import concurrent.futures

    def call(_):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", INVOKE_PATH.format(name=name), body=b'{"sleep": 0.5}')
        conn.getresponse().read()
        conn.close()

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        list(pool.map(call, range(count)))
    time.sleep(1)
    return (pss_kb(tree(server_pid)) - before) / count / 1024


def _cold_figure(backend: str, cold: list[float], parts: dict[str, list[float]], **extra) -> None:
    emit(figure="cold_start_invoke_ms", backend=backend, p50=round(statistics.median(cold), 3),
         p99=round(percentile(cold, 0.99), 3), n=len(cold), target_p50=10 if backend == "namespaces" else None,
         breakdown_p50={part: round(statistics.median(values), 3) for part, values in parts.items()}, **extra)


def cold_start_against(backend: str, tmp: str, args, processes: list) -> None:
    """Cold starts of this tree and of the tree whose src is `args.against`, measured in alternating
    samples (the machine's noise hits both alike), with the median of the paired differences."""
    servers = {}
    for label, env in (("this", {}), ("against", {"PYTHONPATH": args.against})):
        process, port = start_lamina(os.path.join(tmp, f"data-{backend}-{label}"), env={"LAMINA_SANDBOX": backend, **env})
        processes.append(process)
        create_function(port, "noop", NOOP, args.runtime)
        cold_starts(port, "noop", 3)
        servers[label] = port
    samples: dict[str, tuple[list[float], dict[str, list[float]]]] = {
        label: ([], {"init": [], "duration": [], "outside": []}) for label in servers}
    for index in range(args.cold):
        for label in (("this", "against") if index % 2 else ("against", "this")):
            cold, parts = cold_starts(servers[label], "noop", 1)
            samples[label][0].extend(cold)
            for part, values in parts.items():
                samples[label][1][part].extend(values)
    for label, (cold, parts) in samples.items():
        _cold_figure(backend, cold, parts, tree=label if label == "this" else args.against)
    paired = [a - b for a, b in zip(samples["this"][0], samples["against"][0], strict=True)]
    emit(figure="cold_start_paired_difference_ms", backend=backend, median=round(statistics.median(paired), 3),
         this_faster=sum(d < 0 for d in paired), n=len(paired))


def cold_start_of(backend: str, tmp: str, args, processes: list) -> float | None:
    """Cold start (a new environment to the first response, through the API) and idle memory on
    one sandbox backend, in a server of its own."""
    try:
        process, port = start_lamina(os.path.join(tmp, f"data-{backend}"), env={"LAMINA_SANDBOX": backend})
    except Exception as exc:  # the backend cannot run on this host
        emit(figure="cold_start_invoke_ms", backend=backend, skipped=str(exc)[:200])
        return None
    processes.append(process)
    create_function(port, "noop", NOOP, args.runtime)
    create_function(port, "sleeper", SLEEPER, args.runtime)
    cold_starts(port, "noop", 3)  # the zygote (if any) starts once, outside the samples
    cold, parts = cold_starts(port, "noop", args.cold)
    _cold_figure(backend, cold, parts)
    if args.only_cold:
        return statistics.median(cold)
    emit(figure="idle_environment_pss_mb", backend=backend, mb=round(idle_memory(port, process.pid, "sleeper", 10), 2),
         environments=10, target_mb=10)
    return statistics.median(cold)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cold", type=int, default=100)
    parser.add_argument("--runtime", default="python3.12")
    parser.add_argument("--backends", default="namespaces,bubblewrap,process",
                        help="sandbox backends whose cold start and idle memory are measured")
    parser.add_argument("--auth-rounds", type=int, default=10,
                        help="alternating rounds of the auth on/off comparison")
    parser.add_argument("--only-auth", action="store_true", help="measure only the cost of SigV4 verification")
    parser.add_argument("--only-cold", action="store_true",
                        help="measure only the cold start (with its breakdown) on each of --backends")
    parser.add_argument("--against", metavar="SRC",
                        help="with --only-cold: also run the lamina whose package is in SRC (another checkout's "
                             "src directory) and alternate cold-start samples between the two")
    parser.add_argument("--no-auth", action="store_true", help="skip the SigV4 comparison")
    parser.add_argument("--deployed", type=int, default=1000,
                        help="functions deployed for the flat-overhead row (0 skips it)")
    args = parser.parse_args()

    if args.only_cold:
        with tempfile.TemporaryDirectory() as tmp:
            processes: list = []
            try:
                for backend in args.backends.split(","):
                    (cold_start_against if args.against else cold_start_of)(backend, tmp, args, processes)
            finally:
                stop_all(processes)
        return 0

    if args.only_auth:
        with tempfile.TemporaryDirectory() as tmp:
            processes = []
            try:
                process, port = start_lamina(os.path.join(tmp, "data"))
                processes.append(process)
                create_function(port, "noop", NOOP, args.runtime)
                auth_cost(tmp, port, args, processes)
            finally:
                stop_all(processes)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        processes = []
        try:
            reference, ref_port = start_reference(tmp)
            processes.append(reference)
            process, port = start_lamina(os.path.join(tmp, "data"))
            processes.append(process)
            create_function(port, "noop", NOOP, args.runtime)
            path = INVOKE_PATH.format(name="noop")

            ref, warm = [], []
            for _ in range(10):  # alternating rounds: the host's noise hits both alike
                ref += sequential(ref_port, "/", max(1, args.warm // 10))
                warm += sequential(port, path, max(1, args.warm // 10))
            ref_p50, warm_p50 = percentile(ref, 0.5), percentile(warm, 0.5)
            emit(figure="reference_sequential_ms", server="uvicorn hello-world", p50=round(ref_p50, 3),
                 p99=round(percentile(ref, 0.99), 3), n=len(ref))
            emit(figure="warm_invoke_ms", p50=round(warm_p50, 3), p99=round(percentile(warm, 0.99), 3),
                 n=len(warm), ratio_to_reference=round(warm_p50 / ref_p50, 3), target_ratio=1.5)
            ref_rps = throughput(ref_port, "/", args.clients, args.seconds)
            emit(figure="reference_throughput_rps", server="uvicorn hello-world", clients=args.clients,
                 rps=round(ref_rps))
            throughput(port, path, args.clients, 2)  # warm: one environment per client is started outside the figure
            rps = throughput(port, path, args.clients, args.seconds)
            emit(figure="invoke_throughput_rps", clients=args.clients, rps=round(rps),
                 ratio_to_reference=round(rps / ref_rps, 3), target_ratio=0.5)
            flat = None
            if args.deployed > 0:  # the same server, once more functions are deployed
                one = rounds_p50({"ref": (ref_port, "/"), "one": (port, path)}, args.warm, 10)
                deploy_many(port, args.deployed - 1, args.runtime)
                many = rounds_p50({"ref": (ref_port, "/"), "many": (port, path)}, args.warm, 10)
                flat = one, many
                emit(figure="warm_invoke_deployed_ms", deployed=1, p50=round(one["one"], 3),
                     reference_p50=round(one["ref"], 3), ratio_to_reference=round(one["one"] / one["ref"], 3))
                emit(figure="warm_invoke_deployed_ms", deployed=args.deployed, p50=round(many["many"], 3),
                     reference_p50=round(many["ref"], 3), ratio_to_reference=round(many["many"] / many["ref"], 3),
                     ratio_to_one_deployed=round((many["many"] / many["ref"]) / (one["one"] / one["ref"]), 3),
                     target_ratio_to_one_deployed=1.1)
            if not args.no_auth:
                auth_cost(tmp, port, args, processes)
            plain = python_start()
            emit(figure="plain_python_start_ms", p50=round(statistics.median(plain), 3), n=len(plain))
            cold = {backend: cold_start_of(backend, tmp, args, processes)
                    for backend in args.backends.split(",") if backend and args.cold > 0}
            row("warm sync invoke p50", warm_p50, ref_p50, "ms", ratio=warm_p50 / ref_p50, target="<= 1.5x bare")
            row(f"warm throughput, {args.clients} clients", rps, ref_rps, "req/s", ratio=rps / ref_rps,
                target=">= 0.5x bare")
            if flat is not None:
                one, many = flat
                row("warm p50, 1 function deployed", one["one"], one["ref"], "ms", ratio=one["one"] / one["ref"],
                    target="<= 1.5x bare")
                row(f"warm p50, {args.deployed} functions deployed", many["many"], many["ref"], "ms",
                    ratio=many["many"] / many["ref"], target="within 1.1x of the 1-function ratio")
            for backend, p50 in cold.items():
                if p50 is not None:
                    row(f"cold start through the API p50 ({backend})", p50, None, "ms",
                        target="<= 10 ms" if backend == "namespaces" else "-")
        finally:
            stop_all(processes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
