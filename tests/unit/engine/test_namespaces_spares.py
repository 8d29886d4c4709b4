"""Spares of the namespaces backend, with the real zygote and real sandboxes (root only): the
engine hands a cold start's job straight to a spare's PID 1 (not through the zygote), the zygote
then reports that environment's exit, and a spare that died while waiting is passed over; and
the zygote's preloaded packages give way to copies a function ships itself."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest

from lamina.engine import backends
from lamina.engine.engine import Engine
from lamina.engine.interpreter import find_python
from lamina.engine.spec import InvokeRequest, RunSpec
from lamina.engine.states import State

pytestmark = pytest.mark.skipif(backends.problem("namespaces") is not None,
                                reason=f"namespaces backend: {backends.problem('namespaces')}")
HANDLER = "import os\n\ndef handler(event, context):\n    return {'pid': os.getpid()}\n"


class Rig:
    def __init__(self, root):
        self.root = root
        self.python = find_python("3.12") or sys.executable
        self.runtime = "python3.12" if find_python("3.12") else f"python{sys.version_info[0]}.{sys.version_info[1]}"
        self.revision = 0
        self.engine = Engine(backend=backends.select("namespaces", root / "work"), concurrency_limit=10,
                             idle_timeout=60.0, endpoint_url="http://127.0.0.1:9", region="us-east-1",
                             account_id="000000000000", scratch_dir=root / "scratch", log_sink=lambda batch: None,
                             runtime_site_dir=root / "site", stop_grace=0.2)

    def spec(self, files: dict[str, str] | None = None) -> RunSpec:
        """A new revision of the function: its first invoke is a cold start."""
        self.revision += 1
        code = self.root / "code" / str(self.revision)
        for path, text in (files or {"app.py": HANDLER}).items():
            (code / path).parent.mkdir(parents=True, exist_ok=True)
            (code / path).write_text(text)
        return RunSpec(function_name="fn", version="$LATEST", revision_id=f"rev-{self.revision}",
                       function_arn="arn:aws:lambda:us-east-1:000000000000:function:fn", runtime=self.runtime,
                       handler="app.handler", code_dir=code, interpreter=self.python, network=False)

    async def invoke(self, spec: RunSpec) -> dict:
        result = await self.engine.invoke(spec, InvokeRequest(request_id=str(uuid.uuid4()), payload=b"{}",
                                                              invoked_arn=spec.function_arn))
        assert result.function_error is None, result.payload
        return result

    def zygote(self):
        (zygote,) = self.engine.backend._zygotes.values()
        return zygote

    async def spares(self, count: int) -> list:
        for _ in range(500):
            if len(self.zygote().spares) >= count:
                return list(self.zygote().spares)
            await asyncio.sleep(0.02)
        raise AssertionError("no spares were made")

    def environment(self):
        (env,) = [env for pool in self.engine._pools.values() for env in pool.environments if env.live]
        return env


async def _gone(env, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while env.state is not State.GONE:
        assert time.monotonic() < deadline, f"{env!r}: its exit was never reported"
        await asyncio.sleep(0.02)


def _dead(pid: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while os.path.exists(f"/proc/{pid}"):
        assert time.monotonic() < deadline, f"{pid} did not die"
        time.sleep(0.01)


def test_a_cold_start_runs_in_a_spare_given_its_job_directly_and_its_exit_is_reported(tmp_path):
    async def scenario():
        rig = Rig(tmp_path)
        await rig.engine.start()
        try:
            await rig.invoke(rig.spec())  # starts the zygote, which then makes spares
            spare = (await rig.spares(1))[0]
            rig.engine.retire("fn")
            await rig.invoke(rig.spec())
            env = rig.environment()
            assert env.sandbox.pid == spare.pid  # the spare's PID 1 became the environment
            assert spare.sock.fileno() == -1  # the engine let go of the spare's socket once it sent the job
            os.kill(spare.pid, signal.SIGKILL)
            await _gone(env)  # the zygote reported the exit of a spare it never handed a job itself
        finally:
            await rig.engine.close()

    asyncio.run(scenario())


def test_a_spare_that_died_while_waiting_is_passed_over(tmp_path):
    async def scenario():
        rig = Rig(tmp_path)
        await rig.engine.start()
        try:
            await rig.invoke(rig.spec())
            spares = await rig.spares(2)
            for spare in spares:
                os.kill(spare.pid, signal.SIGKILL)
                _dead(spare.pid)
            await asyncio.sleep(0.1)  # the zygote reaps them (the engine is not told)
            rig.engine.retire("fn")
            await rig.invoke(rig.spec())  # in a fresh child forked for it
            env = rig.environment()
            assert env.sandbox.pid not in {spare.pid for spare in spares}
            os.kill(env.sandbox.pid, signal.SIGKILL)
            await _gone(env)
        finally:
            await rig.engine.close()

    asyncio.run(scenario())


def test_packages_a_function_ships_itself_win_over_the_preloaded_ones(tmp_path):
    async def scenario():
        rig = Rig(tmp_path)
        await rig.engine.start()
        try:
            result = await rig.invoke(rig.spec({
                "app.py": "import jmespath, dateutil, boto3\n\ndef handler(event, context):\n"
                          "    return [jmespath.MINE, dateutil.MINE, boto3.__file__]\n",
                "jmespath.py": "MINE = 'module'\n",  # a module and a package of the function's own
                "dateutil/__init__.py": "MINE = 'package'\n",
            }))
            mine, package, boto3 = json.loads(result.payload)
            assert (mine, package) == ("module", "package")
            assert boto3.startswith("/var/runtime/")  # one it does not ship stays the runtime's
        finally:
            await rig.engine.close()

    asyncio.run(scenario())


MOUNTS = ("import os, time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n"
          "    lines = [line.split() for line in open('/proc/self/mountinfo')]\n"
          "    return {'mounts': {line[4]: line[2] for line in lines}, 'text': [' '.join(line) for line in lines],\n"
          "            'opt': sorted(os.listdir('/opt')), 'dev': sorted(os.listdir('/dev'))}\n")


def _devices(result) -> dict:
    return json.loads(result.payload)


def test_environments_share_their_roots_superblocks_but_not_their_proc_and_tmp(tmp_path):
    """Three environments of one version at once (from spares or not): the root, /dev, /var/lang and /var/runtime are the
    zygote's (one superblock each for all), /var/task and /opt the version's, and each has its own
    /proc and /tmp; mountinfo names no host path. The version's overlays are closed once its last
    environment is gone, and nothing of it is ever mounted on the host."""
    async def scenario():
        rig = Rig(tmp_path)
        for layer, name in ((tmp_path / "layer1" / "python", "one.py"), (tmp_path / "layer2" / "python", "two.py")):
            layer.mkdir(parents=True)
            (layer / name).write_text("")
        await rig.engine.start()
        try:
            await rig.invoke(rig.spec())  # starts the zygote, which then makes spares
            await rig.spares(2)
            spec = dataclasses.replace(rig.spec({"app.py": MOUNTS}),
                                       layer_dirs=(tmp_path / "layer1", tmp_path / "layer2"))
            results = await asyncio.gather(*(rig.engine.invoke(spec, InvokeRequest(
                request_id=str(uuid.uuid4()), payload=b'{"sleep": 1}', invoked_arn=spec.function_arn))
                for _ in range(3)))  # two take the spares, one a child forked for it
            seen = [_devices(result) for result in results]
            first = seen[0]
            for path in ("/", "/dev", "/var/lang", "/var/runtime", "/var/task", "/opt"):
                assert len({each["mounts"][path] for each in seen}) == 1, path  # one superblock for all
            for path in ("/proc", "/tmp"):
                assert len({each["mounts"][path] for each in seen}) == 3, path
            assert first["opt"] == ["python"] and "null" in first["dev"]
            for line in first["text"]:
                assert str(tmp_path) not in line and "/work" not in line, line
            backend = rig.engine.backend
            assert len(backend._overlays) == 2  # the version's /var/task and /opt
            envs = [env for pool in rig.engine._pools.values() for env in pool.environments
                    if env.live and env.spec.code_dir == spec.code_dir]
            assert len(envs) == 3
            for env in envs:
                os.kill(env.sandbox.pid, signal.SIGKILL)
                await _gone(env)
            for _ in range(200):  # the release comes with the environment's cleanup
                if len(backend._overlays) == 0:
                    break
                await asyncio.sleep(0.02)
            assert len(backend._overlays) == 0
        finally:
            await rig.engine.close()
        host = Path("/proc/self/mountinfo").read_text()
        assert str(tmp_path) not in host and "lamina-root" not in host and "lamina-shared" not in host

    asyncio.run(scenario())


def test_a_runtime_prepared_ahead_has_its_zygote_and_spares_before_the_first_cold_start(tmp_path):
    async def scenario():
        rig = Rig(tmp_path)
        await rig.engine.start()
        try:
            assert rig.engine.backend.zygotes() == []
            rig.engine.prepare_runtime(rig.runtime, rig.python)
            rig.engine.prepare_runtime(rig.runtime, rig.python)  # once is enough: one zygote
            deadline = time.monotonic() + 30
            while not rig.engine.backend.zygotes():  # started with no request
                assert time.monotonic() < deadline, "the zygote was not started ahead"
                await asyncio.sleep(0.02)
            spares = await rig.spares(1)  # and its spares made
            assert rig.engine.backend.zygotes() == [os.path.realpath(rig.python)]
            zygote = rig.zygote()
            result = await rig.invoke(rig.spec())
            assert json.loads(result.payload)["pid"] == 1
            assert rig.zygote() is zygote  # the cold start used it, and a spare made ahead
            assert rig.environment().sandbox.pid == spares[0].pid
        finally:
            await rig.engine.close()

    asyncio.run(scenario())


def test_a_close_during_a_start_ahead_ends_that_zygote_at_once(tmp_path):
    async def scenario():
        rig = Rig(tmp_path)
        await rig.engine.start()
        rig.engine.prepare_runtime(rig.runtime, rig.python)
        await asyncio.sleep(0.05)  # the zygote runs, and is still importing
        (booting,) = rig.engine.backend._booting.values()
        began = time.monotonic()
        await rig.engine.close()
        assert time.monotonic() - began < 5
        assert booting.proc.poll() is not None  # ended, not left running
        assert rig.engine.backend.zygotes() == []

    asyncio.run(scenario())
