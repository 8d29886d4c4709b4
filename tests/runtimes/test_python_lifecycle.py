"""Runtime contract kit: environments' lives with real processes — warm reuse, scaling out under
concurrency, the account limit, retiring on change, the idle reaper, and no orphans at close."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from lamina.errors import ServiceException, TooManyRequestsException

APP = """
import os, subprocess, tempfile, time

COUNT = 0

def counter(event, context):
    global COUNT
    COUNT += 1
    path = os.path.join(tempfile.gettempdir(), "marker")
    with open(path, "a") as f:
        f.write("x")
    return {"count": COUNT, "tmp": len(open(path).read()), "stream": context.log_stream_name}

def sleepy(event, context):
    time.sleep(event.get("seconds", 1))
    return context.log_stream_name

def spawn(event, context):
    child = subprocess.Popen(["sleep", "1000"])
    return child.pid
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_warm_environment_keeps_globals_and_tmp(kit):
    async def scenario(k):
        spec = k.function(APP, "app.counter")
        results = [json.loads((await k.invoke(spec)).payload) for _ in range(3)]
        assert [r["count"] for r in results] == [1, 2, 3]
        assert [r["tmp"] for r in results] == [1, 2, 3]
        assert len({r["stream"] for r in results}) == 1
    kit(scenario)


def test_concurrent_events_get_one_environment_each(kit):
    async def scenario(k):
        spec = k.function(APP, "app.sleepy")
        started = time.monotonic()
        results = await asyncio.gather(*(k.invoke(spec, b'{"seconds": 1}') for _ in range(5)))
        elapsed = time.monotonic() - started
        assert all(r.function_error is None for r in results)
        assert len({r.payload for r in results}) == 5
        assert elapsed < 4.5  # well under 5 x 1 s
        assert k.engine.stats()["environments"] == 5
        again = await asyncio.gather(*(k.invoke(spec, b'{"seconds": 0}') for _ in range(5)))
        assert {r.payload for r in again} == {r.payload for r in results}  # all five reused, none new
    kit(scenario)


def test_the_account_limit_throttles_with_429(kit):
    async def scenario(k):
        spec = k.function(APP, "app.sleepy")
        first = asyncio.ensure_future(k.invoke(spec, b'{"seconds": 1}'))
        await asyncio.sleep(0.05)
        with pytest.raises(TooManyRequestsException) as info:
            await k.invoke(spec)
        assert info.value.status == 429
        assert info.value.body() == {"Reason": "ConcurrentInvocationLimitExceeded", "Type": "User",
                                     "message": "Rate Exceeded."}
        assert (await first).function_error is None
        assert (await k.invoke(spec, b'{"seconds": 0}')).function_error is None
    kit(scenario, concurrency_limit=1)


def test_new_revision_retires_the_old_environments(kit):
    async def scenario(k):
        old = k.function("def handler(e, c):\n    return 1\n")
        assert (await k.invoke(old)).payload == b"1"
        old_pid = k.pids()[0]
        new = k.function("def handler(e, c):\n    return 2\n")
        assert new.pool_key == old.pool_key and new.revision_id != old.revision_id
        assert (await k.invoke(new)).payload == b"2"
        for _ in range(100):
            if not alive(old_pid):
                break
            await asyncio.sleep(0.02)
        assert not alive(old_pid)
        assert k.engine.stats()["environments"] == 1
    kit(scenario)


def test_retire_ends_idle_environments_and_busy_ones_once_done(kit):
    async def scenario(k):
        spec = k.function(APP, "app.sleepy")
        await asyncio.gather(k.invoke(spec, b'{"seconds": 0.2}'), k.invoke(spec, b'{"seconds": 0.2}'))
        busy = asyncio.ensure_future(k.invoke(spec, b'{"seconds": 0.5}'))
        await asyncio.sleep(0.1)
        assert k.engine.stats()["environments"] == 2
        k.engine.retire("fn")
        await asyncio.sleep(0.3)
        assert k.engine.stats()["environments"] == 1  # the idle one is gone, the busy one finishes
        assert (await busy).function_error is None
        for _ in range(100):
            if k.engine.stats()["environments"] == 0:
                break
            await asyncio.sleep(0.02)
        assert k.engine.stats()["environments"] == 0
        assert (await k.invoke(spec, b'{"seconds": 0}')).init_ms is not None
    kit(scenario)


def test_idle_environments_are_reaped(kit):
    async def scenario(k):
        spec = k.function(APP, "app.sleepy")
        await k.invoke(spec, b'{"seconds": 0}')
        pid = k.pids()[0]
        for _ in range(150):
            if k.engine.stats()["environments"] == 0:
                break
            await asyncio.sleep(0.02)
        assert k.engine.stats()["environments"] == 0
        assert not alive(pid)
    kit(scenario, idle_timeout=0.3)


def test_close_leaves_no_process_behind(kit):
    pids: list[int] = []
    descriptors = len(os.listdir("/proc/self/fd"))

    async def scenario(k):
        spec = k.function(APP, "app.spawn")
        grandchild = int((await k.invoke(spec)).payload)
        busy = asyncio.ensure_future(k.invoke(k.function(APP, "app.sleepy", name="other"), b'{"seconds": 30}'))
        await asyncio.sleep(0.5)
        pids.extend([grandchild, *k.pids()])
        assert len(pids) == 3 and all(alive(pid) for pid in pids)
        await k.engine.close()
        with pytest.raises(ServiceException, match="shutting down"):  # answered, not left to the runtime's exit
            await busy
    kit(scenario)
    assert not any(alive(pid) for pid in pids)
    runtimes = pids[1:]  # lamina's own children are reaped, not left as zombies (the grandchild is init's)
    assert not [pid for pid in runtimes if os.path.exists(f"/proc/{pid}")]
    assert len(os.listdir("/proc/self/fd")) == descriptors  # sockets, pipes and pidfds all closed
