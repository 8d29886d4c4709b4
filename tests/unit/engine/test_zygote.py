"""The engine's end of a zygote's control socket never blocks the event loop: under a burst of
spawns the zygote may itself be blocked writing replies, and a blocking sendall on the loop
would then never read them (both sides waited for ever: issue 21 item 13's unanswered requests).
And the zygote's side of a spare handed its job by the engine: an exit that came first is reported
when the claim does."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct

from lamina.engine.zygote import Zygote

_LENGTH = struct.Struct(">I")


class _Backend:
    def __init__(self) -> None:
        self.lost: list[Zygote] = []

    def zygote_lost(self, zygote: Zygote) -> None:
        self.lost.append(zygote)


def _read_messages(sock: socket.socket, count: int) -> tuple[list[dict], list[int]]:
    sock.setblocking(True)
    buffer, fds, messages = b"", [], []
    while len(messages) < count:
        data, more, _, _ = socket.recv_fds(sock, 65536, 8)
        assert data, "the socket closed early"
        buffer += data
        fds += more
        while len(buffer) >= _LENGTH.size and len(buffer) >= _LENGTH.size + _LENGTH.unpack_from(buffer)[0]:
            size = _LENGTH.unpack_from(buffer)[0]
            messages.append(json.loads(buffer[_LENGTH.size:_LENGTH.size + size]))
            buffer = buffer[_LENGTH.size + size:]
    return messages, fds


def test_sending_more_than_the_socket_holds_queues_instead_of_blocking_and_keeps_the_order():
    async def scenario():
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        ours.setblocking(False)
        zygote = Zygote(_Backend(), "/usr/bin/python3")
        zygote.sock = ours
        read_end, write_end = os.pipe()
        try:
            filler = "x" * 1000
            for n in range(500):  # ~500 kB: far more than the socket buffers; nobody reads yet
                zygote._send({"op": "spawn", "n": n, "pad": filler}, (read_end,) if n == 250 else ())
            assert zygote._outbox  # the rest waits for the socket to be writable
            reader = asyncio.get_running_loop().run_in_executor(None, _read_messages, theirs, 500)
            messages, fds = await reader
            assert [m["n"] for m in messages] == list(range(500))
            assert len(fds) == 1 and os.path.sameopenfile(fds[0], read_end)
            os.close(fds[0])
            assert not zygote._outbox and not zygote._writing
        finally:
            zygote._lost()
            theirs.close()
            os.close(read_end)
            os.close(write_end)
    asyncio.run(asyncio.wait_for(scenario(), 60))


ZYGOTE_CHILD = r'''
import json, os, socket, struct, sys, time
sys.path.insert(0, SANDBOX)
import zygote
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
z = zygote.Zygote(ours)
spare_end, _ = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
pid = os.fork()
if pid == 0:
    os._exit(7)
z.spares["s1"] = (pid, spare_end)
deadline = time.monotonic() + 5
while os.path.exists(f"/proc/{pid}/stat") and time.monotonic() < deadline:  # reaped while a spare: not reported
    open(f"/proc/{pid}/stat").read().split()[2] == "Z" and z._on_signal(None)
    time.sleep(0.01)
theirs.setblocking(False)
try:
    early = theirs.recv(100)
except BlockingIOError:
    early = b""
z._claim("s1", pid, True)  # the engine had sent it its job: now its exit is reported
theirs.setblocking(True)
theirs.settimeout(5)
head = theirs.recv(4, socket.MSG_WAITALL)
body = theirs.recv(struct.unpack(">I", head)[0], socket.MSG_WAITALL)
print(json.dumps({"early": early.decode(), "message": json.loads(body), "pid": pid,
                  "spares": list(z.spares), "closed": spare_end.fileno() == -1}))
'''


def test_a_spare_that_died_before_its_claim_is_reported_when_the_claim_comes():
    import subprocess
    import sys
    from pathlib import Path

    sandbox = Path(__file__).resolve().parents[3] / "src" / "lamina" / "runtimes" / "sandbox"
    child = ZYGOTE_CHILD.replace("SANDBOX", repr(str(sandbox)))
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["early"] == ""
    assert seen["message"] == {"op": "exit", "pid": seen["pid"], "status": 7}
    assert seen["spares"] == [] and seen["closed"]
