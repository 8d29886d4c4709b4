"""The processes rapid starts inside the environment: where the runtime's `bootstrap` and the
external extensions are found (the task root, then the layers merged at /opt), how they are
started (the environment plus AWS_LAMBDA_RUNTIME_API; extensions shielded from the group's
SIGTERM, since they get a SHUTDOWN event instead), and the capture of their stdout/stderr into
the function's log (STREAM frames) and the Telemetry API.

Runs inside the sandbox; imports only the standard library.
"""

import os
import select
import signal
import subprocess
import threading

SEARCHED = "[/var/task/bootstrap /opt/bootstrap]"


def find_bootstrap(task_root, opt_dirs):
    """(path, None) of the custom runtime's executable, or (None, the Runtime.InvalidEntrypoint text)."""
    candidates = [os.path.join(task_root, "bootstrap"), *(os.path.join(d, "bootstrap") for d in opt_dirs)]
    for path in candidates:
        if os.path.isfile(path):
            if not os.access(path, os.X_OK):
                shown = "/var/task/bootstrap" if path == candidates[0] else "/opt/bootstrap"
                return None, f"fork/exec {shown}: permission denied"
            return path, None
    return None, f"Couldn't find valid bootstrap(s): {SEARCHED}"


def find_extensions(opt_dirs):
    """{name: path} of the executables in /opt/extensions (higher layers win), in name order."""
    found = {}
    for root in reversed(opt_dirs):  # lowest precedence first, so later layers overwrite
        folder = os.path.join(root, "extensions")
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                found[name] = path
    return dict(sorted(found.items()))


def _ignore_sigterm():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def start(argv, env, cwd, output, shielded=False):
    """Start a process whose fd 1 and 2 go to `output` (an Output)."""
    return subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output.write_fd,
                            stderr=output.write_fd, close_fds=True,
                            preexec_fn=_ignore_sigterm if shielded else None)


class Output:
    """One pipe whose bytes become the function's log (STREAM frames) and, when someone subscribed,
    telemetry log lines of `category` ("function" or "extension"). Its reader thread runs from
    `start()`: the pipe holds what is written before (64 KiB), so the runtime can be started first."""

    def __init__(self, channel, telemetry, category):
        self._channel = channel
        self._telemetry = telemetry
        self._category = category
        self._read_fd, self.write_fd = os.pipe()
        os.set_inheritable(self._read_fd, False)
        os.set_blocking(self._read_fd, False)
        self._lock = threading.Lock()
        self._partial = b""
        self._pumping = False

    def start(self):
        if not self._pumping:
            self._pumping = True
            threading.Thread(target=self._pump, daemon=True, name=f"output-{self._category}").start()

    def _pump(self):
        while self._read_fd is not None:
            try:
                select.select([self._read_fd], [], [])
            except (OSError, ValueError, TypeError):
                return
            if not self.drain():
                return

    def drain(self):
        """Forward what is readable now; False once the pipe is closed (every writer gone)."""
        with self._lock:
            while self._read_fd is not None:
                try:
                    data = os.read(self._read_fd, 1 << 16)
                except BlockingIOError:
                    return True
                except OSError:
                    data = b""
                if not data:
                    return False
                self._channel.stream(data)
                if self._telemetry:
                    self._lines(data)
            return False

    def _lines(self, data):
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._telemetry.emit(self._category, line.decode("utf-8", "replace"))

    def close_writer(self):
        """rapid's own copy of the writing end (after the children it feeds were started)."""
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None
