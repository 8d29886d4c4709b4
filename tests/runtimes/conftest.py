"""The runtime contract kit's rig: the real engine, the real `process` sandbox backend and the real
Python bootstrap, with handlers written to temporary directories."""

from __future__ import annotations

import asyncio
import itertools
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from lamina.engine.engine import Engine
from lamina.engine.interpreter import find_python
from lamina.engine.process_backend import ProcessBackend
from lamina.engine.spec import InvokeRequest, InvokeResult, RunSpec

REGION = "us-east-1"
ACCOUNT = "000000000000"
ENDPOINT = "http://127.0.0.1:9001"


@pytest.fixture(scope="session")
def interpreter() -> tuple[str, str]:
    """(runtime id, interpreter path): python3.12 when the host has one, else the test interpreter."""
    found = find_python("3.12")
    if found:
        return "python3.12", found
    return f"python{sys.version_info[0]}.{sys.version_info[1]}", sys.executable


class Kit:
    def __init__(self, root: Path, interpreter: tuple[str, str], **engine_options) -> None:
        self.root = root
        self.runtime, self.python = interpreter
        self.batches: list = []
        self._revisions = itertools.count(1)
        options = {"concurrency_limit": 20, "idle_timeout": 60.0, **engine_options}
        self.engine = Engine(backend=ProcessBackend(), endpoint_url=ENDPOINT, region=REGION, account_id=ACCOUNT,
                             scratch_dir=root / "scratch", log_sink=self.batches.append,
                             runtime_site_dir=root / "site", stop_grace=0.2, **options)

    async def __aenter__(self) -> Kit:
        await self.engine.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.engine.close()

    def function(self, code: str | dict[str, str], handler: str = "app.handler", name: str = "fn",
                 **fields) -> RunSpec:
        """A RunSpec for new code (a new revision each call)."""
        revision = next(self._revisions)
        code_dir = self.root / "code" / name / str(revision)
        files = {"app.py": code} if isinstance(code, str) else code
        for path, text in files.items():
            target = code_dir / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(text))
        code_dir.mkdir(parents=True, exist_ok=True)
        values = {"function_name": name, "version": "$LATEST", "revision_id": f"rev-{revision}",
                  "function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}", "runtime": self.runtime,
                  "handler": handler, "code_dir": code_dir, "interpreter": self.python, **fields}
        return RunSpec(**values)

    async def invoke(self, spec: RunSpec, payload: bytes = b"{}", *, tail: bool = False,
                     request_id: str | None = None, **extra) -> InvokeResult:
        request = InvokeRequest(request_id=request_id or str(uuid.uuid4()), payload=payload,
                                invoked_arn=extra.pop("invoked_arn", spec.function_arn), tail=tail, **extra)
        result = await self.engine.invoke(spec, request)
        await asyncio.sleep(0)  # END and REPORT reach the sink right after the answer: on the loop's next turn
        return result

    def messages(self, group: str = "/aws/lambda/fn") -> list[str]:
        return [event.message for batch in self.batches if batch.group == group for event in batch.events]

    def streams(self, group: str = "/aws/lambda/fn") -> list[str]:
        seen: list[str] = []
        for batch in self.batches:
            if batch.group == group and batch.stream not in seen:
                seen.append(batch.stream)
        return seen

    def pids(self) -> list[int]:
        return [env.sandbox.pid for pool in self.engine._pools.values() for env in pool.environments
                if env.sandbox is not None]


@pytest.fixture
def kit(tmp_path, interpreter):
    """Run `scenario(kit)` (an async function) against a fresh engine: kit(scenario, **engine options)."""
    def run(scenario, **options):
        async def main():
            async with Kit(tmp_path, interpreter, **options) as k:
                return await scenario(k)
        return asyncio.run(main())
    return run
