"""What every sandbox backend shares (lamina.engine.piped): the plumbing of a start, the handle's
exit, the children lists and the background work a backend awaits on close."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading

import pytest

from lamina.engine import piped


def _open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_a_successful_start_keeps_the_engine_ends_and_closes_the_child_ends():
    undone: list[str] = []
    with piped.Plumbing() as plumbing:
        plumbing.on_failure(lambda: undone.append("release"))
        child_fds = (plumbing.channel_fd, plumbing.output_fd)
        assert all(_open(fd) for fd in child_fds)
    assert not any(_open(fd) for fd in child_fds)
    assert _open(plumbing.sock.fileno()) and _open(plumbing.read_fd)
    assert undone == []
    plumbing.sock.close()
    os.close(plumbing.read_fd)


def test_a_failed_start_closes_every_end_and_undoes_newest_first():
    undone: list[str] = []
    with pytest.raises(OSError, match="no zygote"), piped.Plumbing() as plumbing:
        plumbing.on_failure(lambda: undone.append("volume"))
        plumbing.on_failure(lambda: undone.append("cgroup"))
        fds = (plumbing.channel_fd, plumbing.output_fd, plumbing.read_fd)
        raise OSError("no zygote")
    assert undone == ["cgroup", "volume"]
    assert not any(_open(fd) for fd in fds)
    assert plumbing.sock.fileno() == -1


def test_the_environment_names_the_inherited_channel_fd():
    with piped.Plumbing() as plumbing:
        env = plumbing.environment({"A": "1"})
        assert env == {"A": "1", piped.FD_VARIABLE: str(plumbing.channel_fd)}
    plumbing.sock.close()
    os.close(plumbing.read_fd)


def test_children_are_the_kernels_list_oldest_first():
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    second = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        found = piped.children(os.getpid())
        assert found.index(first.pid) < found.index(second.pid)
        assert piped.children(first.pid) == []
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait()
    assert piped.children(first.pid) == []  # gone


class _Handle(piped.PipedSandbox):
    def __init__(self, plumbing: piped.Plumbing, events: list[str], group=None) -> None:
        super().__init__(4242, plumbing, group=group, cleanup=lambda: events.append("cleanup"))
        self.signals: list[int] = []

    def _signal(self, signum: int) -> None:
        self.signals.append(signum)


def test_the_exit_runs_the_cleanup_before_telling_listeners_and_only_once():
    async def scenario() -> tuple[list[str], list[int], int | None, int]:
        events: list[str] = []
        with piped.Plumbing() as plumbing:
            pass
        handle = _Handle(plumbing, events)
        handle.add_exit_callback(lambda code: events.append(f"exit {code}"))
        handle.terminate()
        handle.exited(-9)
        handle.exited(1)  # a second report changes nothing
        handle.kill()  # the tree is gone: nothing is signalled
        later: list[int] = []
        handle.add_exit_callback(later.append)
        await asyncio.sleep(0)
        status = await handle.wait()
        handle.close()
        return events + [f"later {later}"], handle.signals, handle.returncode, status

    events, signals, returncode, status = asyncio.run(scenario())
    assert events == ["cleanup", "exit -9", "later [-9]"]
    assert signals == [signal.SIGTERM]
    assert returncode == status == -9


def test_a_child_watch_reports_the_exit_code_and_reaps_the_leader():
    async def scenario() -> int:
        proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], start_new_session=True)
        exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        piped.Child(proc, exited.set_result)
        return await exited

    assert asyncio.run(scenario()) == 3


def test_background_work_is_awaited_not_cancelled():
    async def scenario() -> list[str]:
        done: list[str] = []

        async def chore(name: str) -> None:
            await asyncio.sleep(0.01)
            done.append(name)

        background = piped.Background()
        background.add(chore("cleanup"))
        background.add(chore("spare"))
        await background.finish()
        return sorted(done)

    assert asyncio.run(scenario()) == ["cleanup", "spare"]


def test_serial_calls_run_in_order_off_the_loop_and_finish_waits_for_them_even_after_a_failure():
    async def scenario() -> tuple[list[str], set[str]]:
        done: list[str] = []
        threads: set[str] = set()

        def call(name: str):
            def run() -> None:
                threads.add(threading.current_thread().name)
                if name == "fails":
                    raise OSError("busy")
                done.append(name)
            return run

        serial = piped.Serial("removals")
        for name in ("a", "fails", "b", "c"):
            serial.add(call(name))
        await serial.finish()
        return done, threads

    done, threads = asyncio.run(scenario())
    assert done == ["a", "b", "c"]
    assert threads == {"removals"}


def test_serial_once_abandoned_finishes_the_running_call_and_drops_the_rest():
    started, release = threading.Event(), threading.Event()
    done: list[str] = []

    def slow() -> None:
        started.set()
        release.wait(30)
        done.append("slow")

    serial = piped.Serial("abandoned")
    serial.add(slow)
    serial.add(lambda: done.append("queued"))
    assert started.wait(30)
    release.set()
    serial.abandon()
    serial.add(lambda: done.append("after"))
    assert done == ["slow"]


class _Group:
    """A cgroup whose readings are counted: an OOM kill and a 5 MB peak."""

    def __init__(self) -> None:
        self.reads = 0

    def peak_kb(self) -> int:
        self.reads += 1
        return 5120

    def oom_kills(self) -> int:
        self.reads += 1
        return 1


@pytest.mark.parametrize(("ended_by_lamina", "reads", "oom", "peak"), [
    (False, 2, True, 5120),  # it ended by itself: why (the OOM counter) and its peak are kept
    (True, 0, False, 0),  # lamina ended it: nothing asks, so nothing is read at the exit
])
def test_the_exit_keeps_the_cgroup_readings_only_of_an_environment_lamina_did_not_end(ended_by_lamina, reads, oom,
                                                                                       peak):
    async def scenario() -> tuple[int, bool, int]:
        with piped.Plumbing() as plumbing:
            pass
        group = _Group()
        handle = _Handle(plumbing, [], group)
        if ended_by_lamina:
            handle.kill()
        handle.exited(-9)
        handle.close()
        return group.reads, handle.out_of_memory(), handle.peak_memory_kb()

    assert asyncio.run(scenario()) == (reads, oom, peak)
