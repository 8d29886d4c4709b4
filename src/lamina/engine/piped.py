"""What every sandbox handle shares, whatever isolates it: the engine's end of the frame socket,
the pipe carrying the environment's fd 1/2 output, and the exit (status, listeners, waiting).
Backends subclass it with how they learn of the exit and how they signal the tree.
Imports lamina.engine.sandbox and lamina.engine.protocol only.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable

from lamina.engine.protocol import Channel, FrameSink, connect_socket
from lamina.engine.sandbox import Sandbox

_CHUNK = 65536


def vm_hwm_kb(pid: int) -> int:
    """Peak resident memory of a process, pages shared with its parent included (0 if gone)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class PipedSandbox(Sandbox):
    def __init__(self, pid: int, sock: socket.socket, output_fd: int) -> None:
        self.pid = pid
        self._sock: socket.socket | None = sock
        self._out: int | None = output_fd
        self._chunk = bytearray(_CHUNK)  # read into, never allocated per read
        self._sink: FrameSink | None = None
        self._channel: Channel | None = None
        self._callbacks: list[Callable[[int], None]] = []
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[int] = self._loop.create_future()

    async def connect(self, sink: FrameSink) -> Channel:
        self._sink = sink
        if self._out is not None:
            os.set_blocking(self._out, False)
            self._loop.add_reader(self._out, self.drain_output)
        sock, self._sock = self._sock, None
        self._channel = await connect_socket(sock, sink)
        return self._channel

    def drain_output(self) -> None:
        while self._out is not None:
            try:
                count = os.readv(self._out, (self._chunk,))
            except BlockingIOError:
                return
            except OSError:
                count = 0
            if not count:
                self._close_output()
                return
            if self._sink is not None:
                self._sink.output_received(bytes(self._chunk[:count]))
            if count < _CHUNK:
                return

    def _close_output(self) -> None:
        if self._out is not None:
            self._loop.remove_reader(self._out)
            os.close(self._out)
            self._out = None

    def _finished(self, code: int) -> None:
        """The tree is gone with `code`: drain what it wrote, tell the listeners."""
        self.drain_output()
        if not self._exited.done():
            self._exited.set_result(code)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(code)

    def add_exit_callback(self, callback: Callable[[int], None]) -> None:
        if self._exited.done():
            self._loop.call_soon(callback, self._exited.result())
        else:
            self._callbacks.append(callback)

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def close(self) -> None:
        self._close_output()
        if self._channel is not None:
            self._channel.close()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
