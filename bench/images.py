"""Container image benchmark: pull + unpack of a ~100 MB image by lamina next to `skopeo copy` of
the same image to a local directory (download only) in the same run, and the cold start p50 of an
image function (awslambdaric in the image) next to a zip function's (python3.12) on the
namespaces backend.

Needs docker-registry, umoci and skopeo (Debian packages) and root. Builds the image the way the
tests do (tests/images_support.py), plus an incompressible filler so it weighs ~100 MB.
Run: .venv/bin/python bench/images.py [--pulls 3] [--cold 30] (--cold 0: the pull figure only)
Prints one JSON line per figure (the pull's also with the CPU time each side used: on a shared,
busy machine the wall-clock ratio mostly follows it). Targets: pull+unpack ≤ 1.5× skopeo copy; image cold start p50
≤ 2× the zip function's.

Next to the cold starts, interleaved with them, the floor an image cold start cannot go under
without running image code differently: the image's own entrypoint and command started bare in a
chroot of the same unpacked root (uid 993, no sandbox), timed to its first connection to a
Runtime API socket (`entrypoint_p50`, and its CPU time from /proc/PID/schedstat). `lamina_p50` is
the median per-round difference image − entrypoint: what lamina adds around the image's process.
`--pulls 0` skips the pull figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROLE, create_function, emit, lambda_call, start_lamina, wait_settled
from invoke import cold_starts

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent / "src"))

from images_support import RegistryProcess, build_and_push, missing_tools  # noqa: E402
from lamina.images.store import ImageStore  # noqa: E402

HELLO = "def handler(event, context):\n    return 'hello'\n"
IMAGE_APP = "def handler(event, context):\n    return 'hello'\n"


def cpu_ms(who: int) -> float:
    """User + system CPU time of this process (all its threads) or of its waited-for children."""
    usage = resource.getrusage(who)
    return (usage.ru_utime + usage.ru_stime) * 1000


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


class BareEntrypoint:
    """The image's entrypoint + command in a plain chroot of its unpacked root, as uid 993, with
    the image's Env and the Lambda variables awslambdaric needs; `start()` times it to its first
    connection to a loopback Runtime API socket (then kills it)."""

    def __init__(self, root: Path, config: dict) -> None:
        self.root = str(root)
        self.argv = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
        self.cwd = config.get("WorkingDir") or "/"
        self.listener = socket.create_server(("127.0.0.1", 0))
        port = self.listener.getsockname()[1]
        self.env = dict(entry.split("=", 1) for entry in config.get("Env") or [])
        self.env.update({"AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}", "LAMBDA_TASK_ROOT": "/var/task",
                         "LAMBDA_RUNTIME_DIR": "/var/runtime", "TZ": ":UTC", "AWS_LAMBDA_FUNCTION_NAME": "image",
                         "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST"})
        self.env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")

    def _enter(self) -> None:
        os.chroot(self.root)
        os.chdir(self.cwd)
        os.setgroups([])
        os.setresgid(993, 993, 993)
        os.setresuid(993, 993, 993)

    def start(self) -> tuple[float, float]:
        """(wall ms, CPU ms) from spawn to its first connection."""
        started = time.perf_counter()
        process = subprocess.Popen(self.argv, env=self.env, preexec_fn=self._enter,  # noqa: PLW1509 - a bench
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.listener.settimeout(30)
        try:
            conn, _ = self.listener.accept()
        finally:
            wall = (time.perf_counter() - started) * 1000
            with open(f"/proc/{process.pid}/schedstat") as stat:
                cpu = int(stat.read().split()[0]) / 1e6
            process.kill()
            process.wait()
        conn.close()
        return wall, cpu

    def close(self) -> None:
        self.listener.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pulls", type=int, default=3)
    parser.add_argument("--cold", type=int, default=30)
    parser.add_argument("--filler-mb", type=int, default=40)
    args = parser.parse_args()
    missing = missing_tools()
    if missing:
        emit(figure="images", skipped=f"needs {', '.join(missing)}")
        return 0
    work = Path(tempfile.mkdtemp(prefix="lamina-bench-images-"))
    registry = RegistryProcess(work / "registry")
    processes = []
    try:
        filler = os.urandom(args.filler_mb * 1024 * 1024)
        uri = build_and_push(registry, work, "bench/app", "v1", app=IMAGE_APP, extra={"/opt/filler.bin": filler})
        lamina_ms, skopeo_ms, lamina_cpu, skopeo_cpu = [], [], [], []
        for run in range(args.pulls):
            store_dir = work / f"store-{run}"
            before = cpu_ms(resource.RUSAGE_SELF)
            lamina_ms.append(timed(lambda d=store_dir: ImageStore(d).pull(uri, "x86_64")))
            lamina_cpu.append(cpu_ms(resource.RUSAGE_SELF) - before)
            target = work / f"skopeo-{run}"
            before = cpu_ms(resource.RUSAGE_CHILDREN)
            skopeo_ms.append(timed(lambda t=target: subprocess.run(
                ["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{uri}", f"dir:{t}"], check=True)))
            skopeo_cpu.append(cpu_ms(resource.RUSAGE_CHILDREN) - before)
        if args.pulls:
            root = next((work / "store-0" / "roots").glob("*[0-9a-f]"))
            unpacked = sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and not f.is_symlink())
            compressed = sum(f.stat().st_size for f in (work / "skopeo-0").iterdir() if f.is_file())
            pull, copy = statistics.median(lamina_ms), statistics.median(skopeo_ms)
            emit(figure="image_pull_unpack_ms", lamina_p50=round(pull, 1), skopeo_copy_p50=round(copy, 1),
                 ratio=round(pull / copy, 2), target_ratio=1.5,
                 lamina_cpu_ms=round(statistics.median(lamina_cpu)), skopeo_cpu_ms=round(statistics.median(skopeo_cpu)),
                 unpacked_mb=round(unpacked / 2**20, 1),
                 compressed_mb=round(compressed / 2**20, 1), runs=args.pulls)
        if args.cold <= 0:
            return 0

        process, port = start_lamina(str(work / "lamina"), env={"LAMINA_SANDBOX": "namespaces"})
        processes.append(process)
        create_function(port, "zip", HELLO, "python3.12")
        lambda_call(port, "POST", "/2015-03-31/functions", {
            "FunctionName": "image", "PackageType": "Image", "Role": ROLE, "Code": {"ImageUri": uri}})
        for _ in range(600):
            if lambda_call(port, "GET", "/2015-03-31/functions/image/configuration")["State"] != "Pending":
                break
            time.sleep(0.1)
        wait_settled(port, "image")
        digest = lambda_call(port, "GET", "/2015-03-31/functions/image/configuration")["CodeSha256"]
        image_root = work / "lamina" / "images" / "roots" / digest
        bare = BareEntrypoint(image_root, json.loads(image_root.with_suffix(".json").read_text()))
        cold_starts(port, "zip", 3)
        cold_starts(port, "image", 3)
        bare.start()
        zip_cold, image_cold, zip_init, image_init, bare_wall, bare_cpu = [], [], [], [], [], []
        for _ in range(args.cold):  # interleaved, so all three see the same load of a shared machine
            samples, parts = cold_starts(port, "zip", 1)
            zip_cold += samples
            zip_init += parts["init"]
            samples, parts = cold_starts(port, "image", 1)
            image_cold += samples
            image_init += parts["init"]
            wall, cpu = bare.start()
            bare_wall.append(wall)
            bare_cpu.append(cpu)
        bare.close()
        zip_p50, image_p50 = statistics.median(zip_cold), statistics.median(image_cold)
        entry_p50 = statistics.median(bare_wall)
        emit(figure="image_cold_start_ms", image_p50=round(image_p50, 2), zip_p50=round(zip_p50, 2),
             ratio=round(image_p50 / zip_p50, 2), target_ratio=2, n=args.cold,
             image_init_p50=round(statistics.median(image_init), 2), zip_init_p50=round(statistics.median(zip_init), 2),
             entrypoint_p50=round(entry_p50, 2), entrypoint_cpu_p50=round(statistics.median(bare_cpu), 2),
             floor_ratio=round(entry_p50 / zip_p50, 2),
             lamina_p50=round(statistics.median(i - b for i, b in zip(image_cold, bare_wall, strict=True)), 2))
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
