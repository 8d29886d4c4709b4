"""Spares of the namespaces backend, with the real zygote and real sandboxes (root only): the
engine hands a cold start's job straight to a spare's PID 1 (not through the zygote), the zygote
then reports that environment's exit, and a spare that died while waiting is passed over; and
the zygote's preloaded packages give way to copies a function ships itself."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid

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
