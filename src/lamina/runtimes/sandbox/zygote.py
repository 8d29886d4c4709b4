"""The fork server of one runtime version (run as root under that runtime's interpreter).

It imports what every environment of the runtime needs once (the runtime bootstrap's modules and
boto3), then forks environments on request from the namespaces backend:

    backend → zygote   {"op": "spare", "id", "procs"}                 fork a child that joins the
                                                                     cgroups now and waits for a job
                       {"op": "spawn", "id", "spare"|"procs", "job"} + fds (channel, output)
    zygote → backend   {"op": "spare", "id", "ok"}  {"op": "spawned", "id", "pid"|"error"}
                       {"op": "exit", "pid", "status"}

Messages are a 4-byte length and JSON; descriptors travel as SCM_RIGHTS. The zygote is a child
subreaper: the child that built an environment exits after forking its PID 1, which is then
reaped here and reported with its host pid. Stdlib only; imports nothing from lamina.
"""

import json
import os
import runpy
import selectors
import signal
import socket
import struct
import sys
import traceback

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import _jail  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
_LENGTH = struct.Struct(">I")


def send(sock, message, fds=()):
    data = json.dumps(message, separators=(",", ":")).encode()
    payload = _LENGTH.pack(len(data)) + data
    if fds:
        socket.send_fds(sock, [payload], list(fds))
    else:
        sock.sendall(payload)


def receive(sock):
    """One message and its descriptors; None at end of stream."""
    head, fds, _, _ = socket.recv_fds(sock, _LENGTH.size, 8)
    if not head:
        return None, []
    while len(head) < _LENGTH.size:
        more = sock.recv(_LENGTH.size - len(head))
        if not more:
            return None, fds
        head += more
    (size,) = _LENGTH.unpack(head)
    data = b""
    while len(data) < size:
        chunk, more_fds, _, _ = socket.recv_fds(sock, size - len(data), 8)
        if not chunk:
            return None, fds
        data += chunk
        fds += more_fds
    return json.loads(data), fds


def _preload(paths, modules):
    """Import what every environment uses, so forks start with it in memory."""
    for path in paths:
        if path and path not in sys.path:
            sys.path.append(path)
    for name in modules:
        try:
            __import__(name)
        except Exception:  # a runtime without boto3 still works: the child imports lazily
            pass
    for path in paths:
        if path in sys.path:
            sys.path.remove(path)


def _purge_shadowed(task_roots):
    """Forget preloaded packages that the function brings itself (its own boto3 wins, as on AWS)."""
    tops = {name.split(".")[0] for name in list(sys.modules)
            if not name.startswith("_") and getattr(sys.modules[name], "__file__", None)}
    for top in tops:
        if any(os.path.exists(os.path.join(root, top)) or os.path.exists(os.path.join(root, top + ".py"))
               for root in task_roots):
            for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
                del sys.modules[name]


def _run_environment(job, channel_fd, output_fd):
    """PID 1 of the environment: finish the jail, then become the runtime."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(128 + signal.SIGTERM))
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    if output_fd > 2:
        os.close(output_fd)
    os.set_inheritable(channel_fd, True)
    _jail.finish(job, keep_fds=(channel_fd,))
    env = dict(job["env"])
    env["_LAMINA_RUNTIME_FD"] = str(channel_fd)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(job["cwd"])
    bootstrap = job["bootstrap"]
    sys.argv = [bootstrap]
    sys.path[:] = [os.path.dirname(bootstrap)] + [p for p in sys.path if p != _HERE]
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    _purge_shadowed([job["cwd"], "/opt/python", f"/opt/python/lib/{version}/site-packages"])
    runpy.run_path(bootstrap, run_name="__main__")


def _child(control, procs):
    """A forked child: join the cgroups, say so, wait for its job, build the environment."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    code = 0
    try:
        for path in procs:
            with open(path, "w") as f:
                f.write("0")
        send(control, {"op": "joined"})
        job, fds = receive(control)
        if job is None:
            os._exit(0)
        channel_fd, output_fd = fds
        pid = _jail.enter(job)
        if pid == 0:
            control.close()
            try:
                _run_environment(job, channel_fd, output_fd)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                if sys.stdout is not None:
                    sys.stdout.flush()
                os._exit(code)
        send(control, {"op": "pid", "pid": pid})
    except BaseException as exc:
        try:
            send(control, {"op": "error", "error": f"{type(exc).__name__}: {exc}"})
        except OSError:
            pass
        code = 1
    os._exit(code)


class Zygote:
    def __init__(self, control):
        self.control = control
        self.selector = selectors.DefaultSelector()
        self.spares = {}  # spare id → (pid, socket), joined and waiting
        self.pending = {}  # socket → ("spare", id) | ("spawn", id)
        self.builders = {}  # builder pid → spawn id (children that exit once PID 1 exists)
        self.environments = set()  # host pids of PID 1s
        self.unclaimed = {}  # exit status of PID 1s reaped before their builder named them
        self.groups = set()  # cgroup.procs files of every group a child joined (removed at shutdown)
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: None)
        self.wake = wake_read
        self.selector.register(control, selectors.EVENT_READ, self._on_control)
        self.selector.register(wake_read, selectors.EVENT_READ, self._on_signal)

    def _fork(self, procs):
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            parent.close()
            self.control.close()
            _child(child, procs)
        child.close()
        return pid, parent

    def shutdown(self):
        """lamina went away or asked us to stop: end every environment and spare, remove their
        cgroups, exit. Nothing this zygote made outlives it."""
        for pid in list(self.environments) + [pid for pid, _ in self.spares.values()] + \
                [entry[2] for entry in self.pending.values()]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
        for procs in self.groups:
            directory = os.path.dirname(procs)
            try:
                os.rmdir(directory)
            except OSError:
                pass
        raise SystemExit(0)

    def _on_control(self, _):
        message, fds = receive(self.control)
        if message is None:
            self.shutdown()
        self.groups.update(message.get("procs", ()))
        op = message["op"]
        if op == "spare":
            pid, sock = self._fork(message["procs"])
            self.pending[sock] = ("spare", message["id"], pid)
            self.selector.register(sock, selectors.EVENT_READ, self._on_child)
        elif op == "spawn":
            spare = self.spares.pop(message.get("spare"), None)
            if spare is None:
                pid, sock = self._fork(message.get("procs", []))
                state = "joining"
            else:
                pid, sock = spare
                state = "ready"
            self.builders[pid] = message["id"]
            self.pending[sock] = ("spawn", message["id"], pid, message["job"], fds, state)
            if state == "ready":
                self._hand_job(sock)
            else:
                self.selector.register(sock, selectors.EVENT_READ, self._on_child)
        elif op == "drop":
            spare = self.spares.pop(message["id"], None)
            if spare is not None:
                spare[1].close()  # the spare reads end of stream and exits

    def _hand_job(self, sock):
        _, spawn_id, pid, job, fds, _ = self.pending[sock]
        self.pending[sock] = ("spawn", spawn_id, pid, job, fds, "sent")
        send(sock, job, fds)
        for fd in fds:
            os.close(fd)
        try:
            self.selector.get_key(sock)
        except KeyError:
            self.selector.register(sock, selectors.EVENT_READ, self._on_child)

    def _on_child(self, sock):
        try:
            message, _ = receive(sock)
        except OSError:
            message = None
        entry = self.pending.get(sock)
        if entry is None:
            self.selector.unregister(sock)
            sock.close()
            return
        kind, ident, pid = entry[0], entry[1], entry[2]
        if message is not None and message["op"] == "joined":
            if kind == "spare":
                self.selector.unregister(sock)
                del self.pending[sock]
                self.spares[ident] = (pid, sock)
                send(self.control, {"op": "spare", "id": ident, "ok": True})
            else:
                self._hand_job(sock)
            return
        self.selector.unregister(sock)
        del self.pending[sock]
        sock.close()
        if kind == "spare":
            send(self.control, {"op": "spare", "id": ident, "ok": False,
                                "error": (message or {}).get("error", "the spare exited")})
        elif message is not None and message["op"] == "pid":
            send(self.control, {"op": "spawned", "id": ident, "pid": message["pid"]})
            if message["pid"] in self.unclaimed:
                send(self.control, {"op": "exit", "pid": message["pid"],
                                    "status": self.unclaimed.pop(message["pid"])})
            else:
                self.environments.add(message["pid"])
        else:
            self.builders.pop(pid, None)
            send(self.control, {"op": "spawned", "id": ident,
                                "error": (message or {}).get("error", "the environment could not be built")})

    def _on_signal(self, _):
        received = b""
        try:
            while True:
                chunk = os.read(self.wake, 512)
                if not chunk:
                    break
                received += chunk
        except BlockingIOError:
            pass
        if signal.SIGTERM in received:
            self.shutdown()
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            if self.builders.pop(pid, None) is not None or pid in self.spare_pids():
                continue
            if pid in self.environments:
                self.environments.discard(pid)
                send(self.control, {"op": "exit", "pid": pid, "status": code})
            else:
                self.unclaimed[pid] = code

    def spare_pids(self):
        return {pid for pid, _ in self.spares.values()} | {entry[2] for entry in self.pending.values()}

    def serve(self):
        while True:
            for key, _ in self.selector.select():
                key.data(key.fileobj)


def main():
    import ctypes

    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    control = socket.socket(fileno=int(os.environ.pop("_LAMINA_ZYGOTE_FD")))
    preload_paths = [p for p in os.environ.pop("_LAMINA_PRELOAD_PATHS", "").split(":") if p]
    modules = [m for m in os.environ.pop("_LAMINA_PRELOAD", "").split(",") if m]
    _preload(preload_paths, modules)
    send(control, {"op": "ready", "pid": os.getpid()})
    try:
        Zygote(control).serve()
    except SystemExit:
        pass


if __name__ == "__main__":
    main()
