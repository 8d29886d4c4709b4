"""The fork server of one runtime version (run as root under that runtime's interpreter).

It imports what every environment of the runtime needs once (the runtime bootstrap's modules and
boto3), then forks environments on request from the namespaces backend:

    backend → zygote   {"op": "spare", "id", "procs", "shared"?}      fork a child that joins the
                                                                     cgroups now and waits for a job
                                                                     (building the shared root part)
                       {"op": "claim", "spare", "pid", "running"}     the backend gave a spare its job
                                                                     (running) or found it dead
                       {"op": "spawn", "id", "procs", "job"} + fds (channel, output)   no spare: fork
    zygote → backend   {"op": "spare", "id", "ok", "pid"} + fd (the spare's socket)
                       {"op": "spawned", "id", "pid"|"error"}  {"op": "exit", "pid", "status"}
    backend → spare    the job + fds (channel, output, /tmp?, then one per job["attach"]: the
                       version's shared /var/task and /opt overlays), on the spare's socket

Messages are a 4-byte length and JSON; descriptors travel as SCM_RIGHTS. A spare is made ahead:
a child joins the cgroups, enters new namespaces, forks the environment's PID 1 and exits; PID 1
says so, sets up the part of the root every environment shares (when the request names one) and
waits for its job, which then adds only its own binds. That part is built once, read-only, in the
zygote's own mount namespace (a slave of the host's), which each environment's namespace copies:
its mounts, not new superblocks (lamina.runtimes.sandbox._jail.build_part). The backend holds a copy of each spare's
socket and sends the job straight to PID 1 (one process woken on a cold start, not the zygote
and then PID 1), then tells the zygote, which from then on reports that PID 1's exit. The zygote
is a child subreaper, so it reaps each PID 1 and reports its exit with its host pid (a spare that
died before its claim is reported when the claim comes). Stdlib only; imports nothing from lamina.
"""

import time

_STARTED = time.monotonic()  # the phases of the zygote's start are reported with "ready"

import builtins  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import selectors  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import _holes  # noqa: E402
import _immortal  # noqa: E402
import _jail  # noqa: E402
import _relocate  # noqa: E402
import _seccomp  # noqa: E402

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


_PRELOADED = set()  # top-level packages imported from the preload paths (boto3 and its closure)
_CODE = {}  # bootstrap path → its compiled code


def _preload(paths, modules, moves=()):
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
        _byte_compile(path)
        bootstrap = os.path.join(path, "bootstrap.py")
        if os.path.isfile(bootstrap):
            with open(bootstrap, "rb") as source:
                _CODE[bootstrap] = compile(source.read(), _relocate.inside(bootstrap, moves) or bootstrap, "exec")
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None) or ""
        if "." not in name and any(origin.startswith(path + os.sep) for path in paths if path):
            _PRELOADED.add(name)
    _relocate.code_filenames(moves, host_only=(_HERE,))  # tracebacks inside name /var/lang, /var/runtime


def _byte_compile(path):
    """Byte-code for a runtime directory's own modules, written once here (the directory is
    read-only inside): rapid imports its siblings in every environment it starts in."""
    import py_compile

    try:
        names = sorted(os.listdir(path))
    except OSError:
        return
    for name in names:
        if name.endswith(".py"):
            try:
                py_compile.compile(os.path.join(path, name), doraise=True)
            except (OSError, py_compile.PyCompileError):
                pass


def _listed(directory):
    try:
        return set(os.listdir(directory))
    except OSError:
        return set()


def _purge_shadowed(task_roots):
    """Forget preloaded packages that the function brings itself (its own boto3 wins, as on AWS).
    Each root is listed once and only names it lists are looked at (two stats per preloaded
    package and root cost ~0.5 ms of each cold start)."""
    listings = [(root, _listed(root)) for root in task_roots]
    for top in _PRELOADED:
        if any((top in names and os.path.exists(os.path.join(root, top)))
               or (top + ".py" in names and os.path.exists(os.path.join(root, top + ".py")))
               for root, names in listings):
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
    host_bootstrap = job["bootstrap"]
    moves = [tuple(move) for move in job.get("moves", ())]
    bootstrap = _relocate.inside(host_bootstrap, moves) or host_bootstrap
    _relocate.interpreter(moves, bootstrap, pythonpath=env.get("PYTHONPATH", "").split(":"), host_only=(_HERE,))
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    _purge_shadowed([job["cwd"], "/opt/python", f"/opt/python/lib/{version}/site-packages"])
    code = _CODE.get(host_bootstrap)
    if code is None:
        with open(bootstrap, "rb") as source:
            code = compile(source.read(), bootstrap, "exec")
    main = types.ModuleType("__main__")
    main.__file__ = bootstrap
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def _child(control, procs, shared=None, where=None):
    """A forked child: join the cgroups, enter new namespaces and fork the environment's PID 1,
    which says so, sets up the `shared` part of the root (if any: the zygote's tree at `where`,
    else built here) and waits for its job (all ahead of any request); then exit."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)
    try:
        for path in procs:
            with open(path, "w") as f:
                f.write("0")
        pid = _jail.enter()
    except BaseException as exc:
        try:
            send(control, {"op": "error", "error": f"{type(exc).__name__}: {exc}"})
        finally:
            os._exit(1)
    if pid:
        os._exit(0)
    code = 1
    try:
        send(control, {"op": "joined", "pid": _host_pid()})
        built = None
        if shared is not None:
            try:
                _jail.build_shared(shared, where)
                built = shared
            except Exception:  # the job builds its whole root instead, and reports what fails
                pass
        job, fds = receive(control)
        if job is None:
            os._exit(0)
        control.close()
        channel_fd, output_fd = fds[:2]
        rest = list(fds[2:])
        if job.get("tmp_fd"):  # /tmp comes as a detached mount: the third descriptor
            job["tmp_fd"] = rest.pop(0)
        # then a clone of each overlay shared with the version's other environments (/var/task, /opt)
        job["attach"] = dict(zip(job.get("attach", ()), rest, strict=False))
        _jail.prepare(job, built, where if built is not None else None)
        _run_environment(job, channel_fd, output_fd)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        if sys.stdout is not None:
            sys.stdout.flush()
        os._exit(code)


def _host_pid():
    """This process's pid as the host sees it (os.getpid() is 1 inside its PID namespace)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("NSpid:"):
                return int(line.split()[1])
    raise OSError("no NSpid in /proc/self/status")


class Zygote:
    def __init__(self, control, private=False):
        self.control = control
        self.selector = selectors.DefaultSelector()
        self.spares = {}  # spare id → (pid, socket), joined and waiting
        self.pending = {}  # socket → ("spare", id, pid) | ("spawn", id, pid, job, fds)
        self.forked = set()  # children that exit once they forked a PID 1
        self.environments = set()  # host pids of PID 1s
        self.unclaimed = {}  # exit status of PID 1s reaped before their builder named them
        self.groups = set()  # cgroup.procs files of every group a child joined (removed at shutdown)
        self.private = private  # in a mount namespace of its own: shared parts are built here, once
        self.parts = {}  # a shared part (as JSON) → where this zygote's namespace has it (None: it has not)
        self.holders = set()  # the directories a tmpfs holding the parts is mounted on
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: None)
        self.wake = wake_read
        self.selector.register(control, selectors.EVENT_READ, self._on_control)
        self.selector.register(wake_read, selectors.EVENT_READ, self._on_signal)

    def _part(self, shared):
        """Where this zygote's namespace has the `shared` part of the root, built on first use
        (each spare's namespace copies it), or None: each spare builds its own."""
        if shared is None or not self.private:
            return None
        key = json.dumps(shared, sort_keys=True)
        if key not in self.parts:
            self.parts[key] = None
            holder = shared["root"]
            try:
                if holder not in self.holders:  # seen by no one but this namespace's copies
                    _jail.mount("lamina-shared", holder, "tmpfs", _jail.MS_NOSUID | _jail.MS_NODEV, "size=64k,mode=700")
                    self.holders.add(holder)
                where = os.path.join(holder, str(len(self.parts)))
                _jail.build_part(shared, where)
                self.parts[key] = where
            except OSError:
                traceback.print_exc()
        return self.parts[key]

    def _fork(self, procs, shared=None):
        where = self._part(shared)
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            parent.close()
            self.control.close()
            _child(child, procs, shared, where)
        child.close()
        self.forked.add(pid)
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
            pid, sock = self._fork(message["procs"], message.get("shared"))
            self.pending[sock] = ("spare", message["id"], pid)
            self.selector.register(sock, selectors.EVENT_READ, self._on_child)
        elif op == "claim":
            self._claim(message["spare"], message["pid"], message["running"])
        elif op == "spawn":  # no spare: a fresh child joins the job's groups, then takes the job
            pid, sock = self._fork(message["procs"], message["job"].get("shared"))
            self.pending[sock] = ("spawn", message["id"], pid, message["job"], fds)
            self.selector.register(sock, selectors.EVENT_READ, self._on_child)

    def _claim(self, ident, pid, running):
        """The backend sent a spare its job (`running`): it is an environment now, whose exit is
        reported; or it found the spare dead: forget it."""
        spare = self.spares.pop(ident, None)
        if spare is not None:
            spare[1].close()
        status = self.unclaimed.pop(pid, None)
        if not running:
            return
        if status is not None:
            send(self.control, {"op": "exit", "pid": pid, "status": status})
        else:
            self.environments.add(pid)

    def _hand_job(self, sock):
        """Give a waiting PID 1 its job: from here on it is a running environment."""
        _, spawn_id, pid, job, fds = self.pending.pop(sock)
        try:
            send(sock, job, fds)
        except OSError:
            pass  # it died while waiting: its exit is reported like any other
        for fd in fds:
            os.close(fd)
        sock.close()
        send(self.control, {"op": "spawned", "id": spawn_id, "pid": pid})
        if pid in self.unclaimed:
            send(self.control, {"op": "exit", "pid": pid, "status": self.unclaimed.pop(pid)})
        else:
            self.environments.add(pid)

    def _on_child(self, sock):
        try:
            message, _ = receive(sock)
        except OSError:
            message = None
        self.selector.unregister(sock)
        entry = self.pending.get(sock)
        if entry is None:
            sock.close()
            return
        kind, ident = entry[0], entry[1]
        if message is not None and message["op"] == "joined":
            pid = message["pid"]
            if kind == "spare":
                del self.pending[sock]
                self.spares[ident] = (pid, sock)
                send(self.control, {"op": "spare", "id": ident, "ok": True, "pid": pid}, (sock.fileno(),))
            else:
                self.pending[sock] = (kind, ident, pid) + entry[3:]
                self._hand_job(sock)
            return
        del self.pending[sock]
        sock.close()
        error = (message or {}).get("error", "the environment could not be prepared")
        if kind == "spare":
            send(self.control, {"op": "spare", "id": ident, "ok": False, "error": error})
        else:
            send(self.control, {"op": "spawned", "id": ident, "error": error})

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
            if pid in self.forked:  # a child that only entered the namespaces
                self.forked.discard(pid)
                continue
            dead = [ident for ident, (spare, _) in self.spares.items() if spare == pid]
            for ident in dead:  # the backend may be giving it its job now: the claim reports the exit
                self.spares.pop(ident)[1].close()
                self.unclaimed[pid] = code
            if dead:
                continue
            if pid in self.environments:
                self.environments.discard(pid)
                send(self.control, {"op": "exit", "pid": pid, "status": code})
            else:
                self.unclaimed[pid] = code


    def serve(self):
        while True:
            for key, _ in self.selector.select():
                key.data(key.fileobj)


def prepare(preload_paths, modules, moves):
    """Everything done once before the first fork. Whatever imports a module does it before
    `_preload` settles the modules (`_relocate.code_filenames`): one imported later (sysconfig's
    data module, which `_immortal.supported` reads) made every environment walk all modules again
    to move it (~1.2 ms of each cold start)."""
    phases = {"imports": time.monotonic() - _STARTED}
    mark = time.monotonic()

    def phase(name):
        nonlocal mark
        now = time.monotonic()
        phases[name] = now - mark
        mark = now

    _seccomp.prepare(os.uname().machine)  # each environment only installs it
    immortal = _immortal.supported()
    _preload(preload_paths, modules, moves)
    phase("preload")
    # Until here the zygote writes the byte-code of what it imports beside its source: its own
    # modules and the runtime image's (boto3's closure: ~1 s of compiling), so the next zygote of
    # this interpreter (a restart, another data dir: the image is shared) reads it instead. The
    # environments write none (the image and /var/task are read-only inside, as on AWS).
    sys.dont_write_bytecode = True
    # What is preloaded lives as long as the zygote: moved out of the collector's generations, a
    # collection in an environment never writes to those pages, and made immortal, references
    # taken in an environment never write their counts, so forks keep sharing those pages.
    gc.collect()
    phase("collect")
    if immortal:
        _immortal.immortalize()
    phase("immortalize")
    # An environment's first allocations would land in the free blocks left between those
    # objects (and in the free lists), copying a shared page for a few bytes each: the zygote
    # takes them all for itself, so they go to pages of their own.
    _holes.fill()
    phase("holes")
    gc.freeze()
    phase("freeze")
    return phases


def main():
    import ctypes

    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    control = socket.socket(fileno=int(os.environ.pop("_LAMINA_ZYGOTE_FD")))
    preload_paths = [p for p in os.environ.pop("_LAMINA_PRELOAD_PATHS", "").split(":") if p]
    modules = [m for m in os.environ.pop("_LAMINA_PRELOAD", "").split(",") if m]
    moves = [tuple(move) for move in json.loads(os.environ.pop("_LAMINA_MOVES", "[]"))]
    phases = prepare(preload_paths, modules, moves)
    hosts = os.environ.pop("_LAMINA_HOSTS", "")
    try:
        _jail.private_mounts()
        private = True
    except OSError:
        private = False
    if private and hosts:
        try:
            _jail.private_copy(hosts)
        except OSError:  # the environments bind the host's file: its path shows in their mountinfo
            traceback.print_exc()
    send(control, {"op": "ready", "pid": os.getpid(), "phases": {k: round(v, 4) for k, v in phases.items()}})
    try:
        Zygote(control, private).serve()
    except SystemExit:
        pass


if __name__ == "__main__":
    main()
