"""Stopping the server (issue 21, items 14 and 15; issue 18): a SIGTERM with 300 invokes in flight
ends the server within its grace period, answers every request (a result for those that finish in
time, ServiceException for the rest) and exits 0; a SIGTERM with many warm environments ends them
all and leaves the files of their /tmp volumes to the next start, which deletes them; after any
stop, and after a SIGKILL, a restart on the same data dir and a stop, nothing of lamina's is left on
the host: no mount, no cgroup, no process.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import http.server
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from support import ROLE, LaminaProcess, client_for, make_zip, printed_json

GRACE = 10.0  # the default LAMINA_STOP_GRACE
IN_FLIGHT = 300
WARM = 80
SLEEPER = ("import time, urllib.request\n\ndef handler(event, context):\n    time.sleep(event['sleep'])\n"
           "    if event.get('gate'):\n"
           "        urllib.request.urlopen(f\"http://127.0.0.1:{event['gate']}/\", timeout=200).read()\n"
           "    return 'slept'\n")
CGROUP_ROOT = Path("/sys/fs/cgroup")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the namespaces backend (mounts, cgroups) needs root")


def _start(data_dir: Path) -> LaminaProcess:
    return LaminaProcess(data_dir, env={"LAMINA_STOP_GRACE": "", "LAMINA_CONCURRENCY_LIMIT": "1000",
                                        "LAMINA_SANDBOX": "namespaces"}).start()


def _deploy(server: LaminaProcess, name: str) -> None:
    lam = client_for(server.url)
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": SLEEPER})}, Timeout=300, MemorySize=128)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


class _Gate:
    """A loopback HTTP server whose every request waits until `open()`: invokes of SLEEPER given its
    port ({"gate": port}) hold their environments until then."""

    def __init__(self) -> None:
        opened = self._opened = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                opened.wait(200)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 256  # every environment's request at once

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]

    def __enter__(self) -> _Gate:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def open(self) -> None:
        self._opened.set()

    def __exit__(self, *exc) -> None:
        self._opened.set()
        self._server.shutdown()
        self._server.server_close()


def _invoke(port: int, name: str, sleep: float, gate: int | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", f"/2015-03-31/functions/{name}/invocations",
                     body=json.dumps({"sleep": sleep, **({"gate": gate} if gate else {})}))
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _descendants(pid: int) -> dict[int, str]:
    """Every process below `pid` (zygotes, environments), with its start time (pids are reused)."""
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            for child in children:
                started = _start_time(child)
                if started is not None and child not in found:
                    found[child] = started
                    todo.append(child)
    return found


def _alive(processes: dict[int, str]) -> list[str]:
    """Those still running (zombies waiting for a parent are not), waiting a little for the ones a
    killed server orphaned (a zygote ending its environments, a mkfs it had started) to end."""
    deadline = time.monotonic() + 10  # a bound on the kernel finishing exits, not a speed check
    while True:
        running = []
        for pid, started in processes.items():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError):
                continue
            if stat[19] == started and stat[0] != "Z":
                running.append(f"{pid} {stat[0]} {command[:120]}")
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)


def _mounts_under(directory: Path) -> list[str]:
    prefix = str(directory.resolve())
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4].startswith(prefix)]


def _cgroups_of(pids: list[int]) -> list[str]:
    """lamina's groups (`lamina-<server pid>`, v1 and v2 alike) anywhere in the cgroup tree."""
    names = {f"lamina-{pid}" for pid in pids}
    found = []
    for directory, subdirs, _ in os.walk(CGROUP_ROOT):
        found += [os.path.join(directory, d) for d in subdirs if d in names]
    return found


def _wait_busy(server: LaminaProcess, count: int) -> None:
    deadline = time.monotonic() + 180  # a bound on starting them, not an assertion on speed
    while time.monotonic() < deadline:
        if server.health()["counts"]["busy"] >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{count} environments did not start: {server.health()['counts']}")


def test_sigterm_with_300_invokes_in_flight_stops_within_the_grace_and_leaves_nothing(tmp_path):
    server = _start(tmp_path / "data")
    try:
        _deploy(server, "long")
        _deploy(server, "short")
        with concurrent.futures.ThreadPoolExecutor(IN_FLIGHT + 1) as pool:
            stuck = [pool.submit(_invoke, server.port, "long", 240) for _ in range(IN_FLIGHT)]
            _wait_busy(server, IN_FLIGHT)
            finishing = pool.submit(_invoke, server.port, "short", 1)  # ends well inside the grace
            _wait_busy(server, IN_FLIGHT + 1)
            processes = _descendants(server.proc.pid)
            assert len(processes) > IN_FLIGHT  # the zygote and one PID 1 per environment
            stopped_at = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            code = server.proc.wait(timeout=60)
            took = time.monotonic() - stopped_at
            answers = [future.result(timeout=30) for future in stuck]
            assert finishing.result(timeout=30) == (200, "slept")
    finally:
        server.stop()
    assert code == 0
    assert took <= GRACE, f"the server took {took:.1f} s to stop (grace {GRACE} s)"
    assert {(status, body.get("Type"), body.get("Message")) for status, body in answers} == \
        {(500, "Service", "The service is shutting down: the invocation was stopped.")}
    assert _alive(processes) == []
    assert _mounts_under(tmp_path) == []
    assert _cgroups_of([server.proc.pid]) == []
    assert "Traceback" not in server.output.read_text()


def test_after_sigkill_a_restart_on_the_same_data_dir_and_a_stop_leave_nothing(tmp_path):
    data = tmp_path / "data"
    first = _start(data)
    try:
        _deploy(first, "short")
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            assert [f.result() for f in [pool.submit(_invoke, first.port, "short", 0.5) for _ in range(3)]] == \
                [(200, "slept")] * 3
        processes = _descendants(first.proc.pid)
        assert _mounts_under(tmp_path)  # the /tmp volumes of the three environments
    finally:
        first.stop(signal.SIGKILL)
    second = _start(data)
    try:
        assert _invoke(second.port, "short", 0) == (200, "slept")
        processes.update(_descendants(second.proc.pid))
    finally:
        assert second.stop() == 0
    assert _alive(processes) == []
    assert _mounts_under(tmp_path) == []
    assert _cgroups_of([first.proc.pid, second.proc.pid]) == []
    subprocess.run(["rm", "-rf", str(data)], check=True)  # nothing mounted keeps it
    assert not data.exists()


def _volume_files(data: Path) -> set[str]:
    """The files behind /tmp volumes and the per-size templates they are copied from."""
    return {p.name for p in data.rglob("*.img")}


def test_sigterm_with_many_warm_environments_ends_them_and_the_next_start_deletes_their_volume_files(tmp_path):
    data = tmp_path / "data"
    first = _start(data)
    try:
        _deploy(first, "sleeper")
        with concurrent.futures.ThreadPoolExecutor(WARM) as pool, _Gate() as gate:
            # each holds its environment until the last one started: one environment each
            running = [pool.submit(_invoke, first.port, "sleeper", 0, gate.port) for _ in range(WARM)]
            _wait_busy(first, WARM)
            gate.open()
            assert [future.result(timeout=100) for future in running] == [(200, "slept")] * WARM
        counts = first.health()["counts"]
        assert counts["idle"] == counts["environments"] >= WARM
        processes = _descendants(first.proc.pid)
        # each environment's volume file stays while it runs (deleting it as the environment's
        # mount went made every exit wait for the disk)
        assert len(_volume_files(data)) >= WARM
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(timeout=60) == 0
    finally:
        first.stop()
    assert _alive(processes) == []
    assert _mounts_under(tmp_path) == []
    assert _cgroups_of([first.proc.pid]) == []
    left = _volume_files(data)  # what the stop did not delete: the next start does
    second = _start(data)
    try:
        assert _invoke(second.port, "sleeper", 0) == (200, "slept")
        processes.update(_descendants(second.proc.pid))
        deadline = time.monotonic() + 60  # a bound on deleting them in the background, not a speed check
        while left & _volume_files(data) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left & _volume_files(data)
    finally:
        assert second.stop() == 0
    assert _alive(processes) == []
    assert _mounts_under(tmp_path) == []
    assert _cgroups_of([first.proc.pid, second.proc.pid]) == []
    assert "Traceback" not in first.output.read_text() + second.output.read_text()


BURST = 200
REPORTER = ("import json, time\n\ndef handler(event, context):\n    time.sleep(event['sleep'])\n"
            "    print('DONE ' + json.dumps({'n': event['n']}))\n    return event['n']\n")


def _send_events(port: int, numbers: range) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for n in numbers:
            conn.request("POST", "/2015-03-31/functions/reporter/invocations",
                         body=json.dumps({"n": n, "sleep": 0.05 + (n % 10) * 0.05}),
                         headers={"X-Amz-Invocation-Type": "Event"})
            response = conn.getresponse()
            response.read()
            assert response.status == 202, response.status
    finally:
        conn.close()


def _invoke_reporter(port: int, event: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", "/2015-03-31/functions/reporter/invocations", body=json.dumps(event))
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def _wait_counts(server: LaminaProcess, enough) -> None:
    deadline = time.monotonic() + 60  # a bound on the queue starting its events, not a speed check
    while not enough(server.health()["counts"]):
        assert time.monotonic() < deadline, server.health()["counts"]
        time.sleep(0.02)


def test_sigterm_during_an_event_burst_stops_within_the_grace_and_loses_no_event(tmp_path):
    """Issue 18: a SIGTERM while the queue runs a burst of Event invokes (environments being
    started, some running) ends the server within its grace, every time: attempts cut short go
    back to the queue and run after the next start, and nothing of lamina's is left. (An attempt
    cancelled while its environment's sandbox was being started left that environment waiting
    to be started forever, and the stop waited for it.)"""
    data = tmp_path / "data"
    processes: dict[int, str] = {}
    pids, outputs = [], []
    stops = []  # (what was running at the SIGTERM, seconds until the exit, exit code)
    # what each stop interrupts: the burst's first starts; the first starts after a restart (the
    # queue runs the rest at once); events running in started environments; those and an invoke
    # held open, so the stop waits for the end of the drain while the queue's backlog is there
    rounds = [(lambda c: c["starting"] >= 1, False), (lambda c: c["starting"] >= 1, False),
              (lambda c: c["busy"] >= 1, False), (lambda c: c["busy"] >= 4, True)]
    held, holder = None, concurrent.futures.ThreadPoolExecutor(1)
    for interrupt, hold in rounds:
        server = _start(data)
        pids.append(server.proc.pid)
        outputs.append(server.output)
        try:
            if not stops:
                lam = client_for(server.url)
                lam.create_function(FunctionName="reporter", Runtime="python3.12", Role=ROLE,
                                    Handler="app.handler", Code={"ZipFile": make_zip({"app.py": REPORTER})},
                                    Timeout=60, MemorySize=128)
                lam.get_waiter("function_active_v2").wait(FunctionName="reporter")
                with concurrent.futures.ThreadPoolExecutor(4) as pool:
                    list(pool.map(_send_events, [server.port] * 4, [range(part, BURST, 4) for part in range(4)]))
            if hold:
                held = holder.submit(_invoke_reporter, server.port, {"n": -1, "sleep": 240})
            _wait_counts(server, interrupt)
            counts = server.health()["counts"]
            processes.update(_descendants(server.proc.pid))
            stopped_at = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            try:
                code = server.proc.wait(timeout=GRACE + 20)
            except subprocess.TimeoutExpired:
                code = None
            stops.append((counts, time.monotonic() - stopped_at, code))
        finally:
            server.stop(signal.SIGKILL)
        assert code == 0, f"the server did not exit after SIGTERM (stops: {stops})"
        assert stops[-1][1] <= GRACE, f"the server took {stops[-1][1]:.1f} s to stop (stops: {stops})"
        assert _alive(processes) == []
        assert _mounts_under(tmp_path) == []
        assert _cgroups_of(pids) == []
    assert held is not None and held.result(timeout=30) == (
        500, {"Type": "Service", "Message": "The service is shutting down: the invocation was stopped."})
    holder.shutdown()
    last = _start(data)  # what was not finished runs now
    try:
        logs = client_for(last.url, "logs")
        deadline = time.monotonic() + 120  # a bound on running the rest, not a speed check
        while last.health()["counts"]["queuedEvents"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert last.health()["counts"]["queuedEvents"] == 0
        done = {record["n"] for record in printed_json(logs, "reporter", "DONE")}
        processes.update(_descendants(last.proc.pid))
    finally:
        assert last.stop() == 0
    assert sorted(set(range(BURST)) - done) == []
    assert _alive(processes) == []
    assert _mounts_under(tmp_path) == []
    assert _cgroups_of([*pids, last.proc.pid]) == []
    assert "Traceback" not in "".join(output.read_text() for output in [*outputs, last.output])
