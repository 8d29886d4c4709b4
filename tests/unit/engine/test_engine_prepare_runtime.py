"""The engine has its backend make a runtime ready ahead (the namespaces backend: start its zygote)
only for a runtime this host runs, with the runtime image the runtime's environments use, from the
event loop whichever thread asks, and never before its start or once closing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from engine_fakes import FakeBackend, make_engine


class PreparingBackend(FakeBackend):
    def __init__(self) -> None:
        super().__init__()
        self.prepared: list[tuple[str, str, bool]] = []

    def prepare(self, interpreter: str, runtime_dir: Path) -> None:
        on_loop = True
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            on_loop = False
        self.prepared.append((interpreter, Path(runtime_dir).name, on_loop))


def test_prepare_runtime_reaches_the_backend_for_runnable_runtimes_only(tmp_path):
    backend = PreparingBackend()
    rig = make_engine(tmp_path, backend)
    rig.engine.prepare_runtime("python3.12", "/usr/bin/python3.12")  # not started: nothing
    assert backend.prepared == []

    async def scenario():
        await rig.engine.start()
        try:
            engine = rig.engine
            engine.prepare_runtime("python3.12", "/usr/bin/python3.12")
            engine.prepare_runtime("provided.al2023", "/usr/bin/python3.13")
            engine.prepare_runtime("", "/usr/bin/python3.13", image=True)
            engine.prepare_runtime("python3.12", None)  # not installed here
            engine.prepare_runtime("java21", "/usr/bin/python3.12")  # lamina cannot run it
            thread = threading.Thread(target=engine.prepare_runtime, args=("python3.11", "/usr/bin/python3.11"))
            thread.start()
            thread.join()
            await asyncio.sleep(0.05)  # the call the thread handed to the loop
        finally:
            await rig.engine.close()
        rig.engine.prepare_runtime("python3.12", "/usr/bin/python3.12")  # closed: nothing

    asyncio.run(scenario())
    assert backend.prepared == [("/usr/bin/python3.12", "python", True), ("/usr/bin/python3.13", "rapid", True),
                                ("/usr/bin/python3.13", "rapid", True), ("/usr/bin/python3.11", "python", True)]
