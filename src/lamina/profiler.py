"""The profiler: samples a function's execution environments from outside the sandbox for a while
and answers one speedscope document (the console's Profile tab draws it as a flame graph).

The host runs py-spy (`record --nonblocking --format speedscope`) against each environment's host
pid: it reads the interpreter's memory through ptrace from outside, so the function's code, limits
and sandbox are untouched and its process is never paused. Environments that start during the window
are picked up (the pids are polled), each sampled for the rest of it. Python runtimes only: py-spy
reads CPython's stacks; the interpreter must be visible at the same path inside the sandbox (a host
/usr interpreter is; see docs/console.md).
`merge` (pure) joins the per-environment documents into one. Imports lamina.errors only; the
function lookup and the engine's process list are handed in.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import InvalidParameterValueException

log = logging.getLogger("lamina.profiler")
MAX_SECONDS = 60
MAX_RATE = 1000
DEFAULT_RATE = 100
POLL_S = 0.25
SCHEMA = "https://www.speedscope.app/file-format-schema.json"


@dataclass(frozen=True)
class Target:
    name: str
    version: str
    runtime: str


def sampler_path() -> str | None:
    """py-spy beside lamina's interpreter (its wheel installs it there), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def check_request(document: object) -> tuple[str, str | None, float, int]:
    """(function, qualifier, seconds, rate) of a profile request; InvalidParameterValueException."""
    if not isinstance(document, dict) or not isinstance(document.get("FunctionName"), str):
        raise InvalidParameterValueException("FunctionName is required.")
    qualifier = document.get("Qualifier")
    if qualifier is not None and not isinstance(qualifier, str):
        raise InvalidParameterValueException("Qualifier must be a string.")
    seconds = document.get("DurationSeconds", 5)
    rate = document.get("SampleRate", DEFAULT_RATE)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 1 <= seconds <= MAX_SECONDS:
        raise InvalidParameterValueException(f"DurationSeconds must be between 1 and {MAX_SECONDS}.")
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= MAX_RATE:
        raise InvalidParameterValueException(f"SampleRate must be an integer between 1 and {MAX_RATE}.")
    return document["FunctionName"], qualifier, float(seconds), rate


def merge(name: str, documents: list[tuple[str, dict]]) -> dict:
    """One speedscope document of `documents` ((environment label, py-spy speedscope output)):
    frames shared (deduplicated), one profile per sampled thread named after its environment."""
    frames: list[dict] = []
    index: dict[tuple, int] = {}
    profiles = []
    for label, document in documents:
        local = document.get("shared", {}).get("frames", [])
        mapping = []
        for frame in local:
            key = (frame.get("name"), frame.get("file"), frame.get("line"), frame.get("col"))
            if key not in index:
                index[key] = len(frames)
                frames.append(frame)
            mapping.append(index[key])
        for profile in document.get("profiles", []):
            copied = dict(profile)
            copied["name"] = f"{label} {profile.get('name', '')}".strip()
            if profile.get("type") == "sampled":
                copied["samples"] = [[mapping[i] for i in stack] for stack in profile.get("samples", [])]
            else:
                copied["events"] = [{**e, "frame": mapping[e["frame"]]} for e in profile.get("events", [])]
            profiles.append(copied)
    return {"$schema": SCHEMA, "shared": {"frames": frames}, "profiles": profiles, "name": name,
            "activeProfileIndex": 0, "exporter": "lamina (py-spy)"}


def sample_count(document: dict) -> int:
    return sum(len(p.get("samples", [])) for p in document.get("profiles", []))


class Profiler:
    def __init__(self, resolve: Callable[[str, str | None], Target],
                 processes: Callable[[str, str | None], list[tuple[str, str, int]]],
                 sampler: str | None = None) -> None:
        self._resolve = resolve  # function name/ARN and qualifier → Target; ResourceNotFoundException
        self._processes = processes  # (name, version or None) → [(environment id, version, host pid)]
        self._sampler = sampler if sampler is not None else sampler_path()

    async def profile(self, document: object) -> dict:
        function, qualifier, seconds, rate = check_request(document)
        target = self._resolve(function, qualifier)
        if not target.runtime.startswith("python"):
            raise InvalidParameterValueException(
                f"The profiler samples Python runtimes only (py-spy); {target.name} runs {target.runtime}.")
        if not self._sampler:
            raise InvalidParameterValueException("The profiler needs py-spy, which is not installed with lamina here.")
        version = None if qualifier is None and target.version == "$LATEST" else target.version
        deadline = time.monotonic() + seconds
        started: dict[str, asyncio.Task] = {}
        with tempfile.TemporaryDirectory(prefix="lamina-profile-") as scratch:
            while True:
                left = deadline - time.monotonic()
                found = self._processes(target.name, version)
                for env_id, env_version, pid in found:
                    if env_id not in started and left >= 0.5:
                        output = Path(scratch) / f"{env_id}.json"
                        started[env_id] = asyncio.create_task(
                            self._record(pid, left, rate, output, f"[{env_version}]{env_id}"))
                if left <= 0:
                    break
                await asyncio.sleep(min(POLL_S, left))
            results = await asyncio.gather(*started.values())
        environments = [r[0] for r in results]
        merged = merge(f"{target.name}:{target.version}", [(r[0]["Environment"], r[1]) for r in results if r[1]])
        return {"FunctionName": target.name, "Version": target.version, "DurationSeconds": seconds,
                "SampleRate": rate, "Environments": environments, "Samples": sample_count(merged),
                "Speedscope": merged}

    async def _record(self, pid: int, seconds: float, rate: int, output: Path, label: str) -> tuple[dict, dict | None]:
        command = [self._sampler, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
                   "--rate", str(rate), "--format", "speedscope", "--output", str(output), "--nonblocking"]
        entry: dict = {"Environment": label, "Pid": pid}
        try:
            process = await asyncio.create_subprocess_exec(
                *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "RUST_LOG": "error"})
            _, err = await asyncio.wait_for(process.communicate(), timeout=seconds + 30)
        except (OSError, TimeoutError) as error:
            entry["Error"] = f"py-spy did not run: {error}"
            return entry, None
        try:  # an environment that ends mid-window still leaves what was sampled
            document = json.loads(output.read_text())
        except (OSError, ValueError):
            lines = err.decode("utf-8", "replace").strip().splitlines()
            entry["Error"] = lines[-1] if lines else f"py-spy exited with status {process.returncode}"
            return entry, None
        entry["Samples"] = sample_count(document)
        return entry, document
