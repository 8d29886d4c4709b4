"""Turning a freshly forked process into an isolated execution environment (Linux, as root).

`enter()` runs ahead of any job in the child the zygote forked, already inside the environment's
cgroups: new mount, PID, IPC and UTS namespaces, then a fork whose child is PID 1 of the new PID
namespace and waits for its job. With the job, `prepare(job)` adds the network namespace (when
the function has none) and builds the new root from read-only binds (and, for a host directory
shown at another path, /var/lang, /var/runtime, /var/task, /opt, a read-only overlay whose
mountinfo names no host path: the zygote's for /var/lang and /var/runtime, the version's, made
by lamina.engine.overlays and given as a detached mount, for /var/task and /opt, else its own);
`finish(job)` mounts /proc,
pivot_roots, drops every capability, switches to the unprivileged uid, sets no_new_privs and
installs the seccomp deny list. Stdlib only; imports nothing from
lamina (it runs under the function's interpreter).
"""

import ctypes
import ctypes.util
import errno
import fcntl
import os
import resource
import socket
import struct

import _seccomp

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MNT_DETACH = 2

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_PDEATHSIG = 1

SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
SYS_MOVE_MOUNT = 429  # the same on every architecture
AT_FDCWD = -100
MOVE_MOUNT_F_EMPTY_PATH = 0x4

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
_libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)


def _check(result, what):
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _b(value):
    return value.encode() if isinstance(value, str) else value


def mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {target}")


def unshare(flags):
    if hasattr(os, "unshare"):
        os.unshare(flags)
    else:
        _check(_libc.unshare(flags), "unshare")


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl {option}")


def _bind(source, target, writable, device=False):
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "w").close()
    mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (0 if device else MS_NODEV)
    if not writable:
        flags |= MS_RDONLY
    mount(None, target, None, flags)


def _attach(mount_fd, target):
    """Attach a detached mount (fsmount's descriptor) at `target` (move_mount, Linux ≥ 5.2)."""
    _check(_libc.syscall(SYS_MOVE_MOUNT, mount_fd, b"", AT_FDCWD, _b(target), MOVE_MOUNT_F_EMPTY_PATH),
           f"move_mount {target}")


def _fd_path(path):
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return fd, f"/proc/self/fd/{fd}"


def _overlay(lower_dirs, target):
    """A read-only overlay of `lower_dirs` (highest first) at `target`, each named by a descriptor:
    /proc/self/mountinfo shows `lowerdir=/proc/self/fd/N:...`, never a host path, where a bind
    would show the source's path inside its file system. The (empty) target is the lowest layer,
    as an overlay without an upper layer needs two. Returns False when overlays cannot be made."""
    os.makedirs(target, exist_ok=True)
    fds = []
    try:
        names = []
        for directory in [*lower_dirs, target]:
            fd, name = _fd_path(directory)
            fds.append(fd)
            names.append(name)
        mount("lamina", target, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, "lowerdir=" + ":".join(names))
        return True
    except OSError:
        return False
    finally:
        for fd in fds:
            os.close(fd)


def _show_elsewhere(source, target):
    """A read-only host directory at another path inside, without its host path showing."""
    if not (os.path.isdir(source) and _overlay([source], target)):
        _bind(source, target, False)


def _mount_binds(root, binds, tmp_fd=None, attach=None):
    """`binds` under `root`; /tmp is the volume `tmp_fd` and a path in `attach` the detached
    mount given for it (an overlay shared with the version's other environments), when given."""
    attach = attach or {}
    for source, target, writable in binds:
        if target == "/tmp" and tmp_fd:  # the volume, mounted nowhere yet: attached here
            os.makedirs(root + target, exist_ok=True)
            _attach(tmp_fd, root + target)
            os.close(tmp_fd)
        elif target in attach:
            os.makedirs(root + target, exist_ok=True)
            _attach(attach[target], root + target)
            os.close(attach[target])
        elif not writable and source != target:  # /var/lang, /var/runtime, /var/task
            _show_elsewhere(source, root + target)
        else:
            _bind(source, root + target, writable)


def _tree(root, part, tmp_fd=None):
    """A small tmpfs root with `part`'s binds, links and directories."""
    mount("lamina-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    _mount_binds(root, part["binds"], tmp_fd, part.get("attach"))
    for link, points_to in part["links"]:
        os.symlink(points_to, root + link)
    for directory in part["dirs"]:
        os.makedirs(root + directory, exist_ok=True)


def build_part(part, where):
    """In the zygote's own mount namespace, once per shared part (rootfs.shared): that part's root,
    /dev and device nodes at `where`, then both file systems made read-only. Every environment's
    mount namespace is a copy of the zygote's, so each spare finds this tree in its namespace and
    uses it as its root: its mounts are copies (no superblock each), where a tree built per
    environment made 4 superblocks per environment (this root, /dev, the /var/lang and
    /var/runtime overlays), each with a memcg-aware shrinker whose per-cgroup state every
    environment's cgroup pays for. What an environment adds (its /proc, /var/task, /tmp, /opt, a
    file system) is mounted over the tree's directories in its own namespace."""
    os.makedirs(where, exist_ok=True)
    _tree(where, part)
    _devices(where, part)
    mount(None, where + "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    mount(None, where, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def private_mounts():
    """The zygote's own mount namespace: a slave of the host's (a volume the host mounts still
    propagates in), whose mounts (the shared parts) the host never sees and which goes away with
    the zygote and the last environment that copied it."""
    unshare(CLONE_NEWNS)
    mount(None, "/", None, MS_REC | MS_SLAVE)


def private_copy(path):
    """In the zygote's own mount namespace, once: `path` (a small file lamina wrote, e.g. the
    environments' /etc/hosts) replaced by a read-only copy on a tmpfs over its directory, so an
    environment that binds it shows `/hosts` on that tmpfs in its mountinfo, not a host path. Every
    environment's namespace copies this mount (no superblock, no write per environment)."""
    with open(path, "rb") as f:
        content = f.read()
    directory, name = os.path.split(path)
    mount("lamina-etc", directory, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,mode=755")
    with open(os.path.join(directory, name), "wb") as f:
        f.write(content)
    os.chmod(os.path.join(directory, name), 0o644)
    mount(None, directory, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def build_shared(part, where=None):
    """In a spare's PID 1, ahead of any job: the part of the root every environment of its runtime
    shares (rootfs.shared: the OS image, /var/lang, /var/runtime, /dev, /proc, the host name):
    the zygote's tree at `where` (made by `build_part`) with this PID namespace's /proc, or, with
    no `where`, the part built here at part["root"]. The namespace's mounts become slaves, not
    private ones yet: a /tmp volume the host mounts before the job comes still propagates in;
    `prepare` makes them private."""
    mount(None, "/", None, MS_REC | MS_SLAVE)
    root = where or part["root"]
    if where is None:
        os.makedirs(root, exist_ok=True)
        _tree(root, part)
        _devices(root, part)
    socket.sethostname(part["hostname"])
    _proc(root)


def build_root(job):
    """In the environment's new mount namespace: a small tmpfs root with every planned bind."""
    root = job["root"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    _tree(root, job, job.get("tmp_fd"))
    _opt(root, job)
    _devices(root, job)
    socket.sethostname(job["hostname"])


def _opt(root, job):
    layers = job["opt_layers"]
    shared = (job.get("attach") or {}).get("/opt")
    if shared is not None:  # the version's overlay of its layers
        _attach(shared, root + "/opt")
        os.close(shared)
    elif len(layers) == 1:
        _show_elsewhere(layers[0], root + "/opt")
    elif layers:  # later layers shadow earlier ones: they go first in lowerdir
        if not _overlay(list(reversed(layers)), root + "/opt"):
            lower = ":".join(reversed(layers))
            mount("overlay", root + "/opt", "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, f"lowerdir={lower}")


def _devices(root, job):
    dev = root + "/dev"
    os.makedirs(dev, exist_ok=True)
    mount("lamina-dev", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for name in job["devices"]:
        if os.path.exists("/dev/" + name):
            _bind("/dev/" + name, f"{dev}/{name}", True, device=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.makedirs(root + "/proc", exist_ok=True)


def enter():
    """New mount, PID, IPC and UTS namespaces, ahead of any job; returns like fork: the pid of
    the child that is PID 1 of the new PID namespace in the parent, 0 in that child."""
    unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)
    return os.fork()


def prepare(job, built=None, where=None):
    """In PID 1, once its job is known: the network namespace (when it has none) and the root.
    `built` is the shared part this PID 1 set up ahead (`build_shared`), if any, at `where` (the
    zygote's read-only tree) or part["root"]: when the job names that same part, only the job's own
    binds (job["rest"]) and /opt are added to it, and the job's root becomes that part's root;
    otherwise (or when a bind of the job's lands where the read-only tree has no mount point)
    the whole root is built at job["root"]."""
    if not job["network"]:
        unshare(CLONE_NEWNET)
    part = job.get("shared")
    root = where or (part or {}).get("root")
    if built is None or part != built or (where and not _mount_points(where, job["rest"])):
        build_root(job)
        return
    job["root"] = root
    job["proc"] = True  # mounted with the shared part
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount_binds(root, job["rest"], job.get("tmp_fd"), job.get("attach"))
    _opt(root, job)


def _mount_points(root, binds):
    """Whether every target of `binds` is already there in `root` (a read-only tree gets none)."""
    return all(os.path.lexists(root + target) for _, target, _ in binds)


def _proc(root):
    """The PID namespace's /proc (what a network namespace made later shows under /proc/net is
    that of the process reading it)."""
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, 0x8913, request))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1 | 0x40))  # SIOCSIFFLAGS UP|RUNNING


def _drop_privileges(uid, last_cap):
    for cap in range(last_cap + 1):
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # leaving uid 0 clears the permitted and effective sets
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def finish(job, keep_fds):
    """In PID 1 of the new namespace: finish the root, switch to it, give up every privilege."""
    root = job["root"]
    if not job.get("proc"):
        _proc(root)
    if not job["network"]:
        _loopback_up()
    os.chdir(root)
    machine = os.uname().machine
    _check(_libc.syscall(SYS_PIVOT_ROOT[machine], b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for limit, value in ((resource.RLIMIT_NOFILE, 1024), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))
    start = 3
    for fd in sorted(keep_fds):
        os.closerange(start, fd)
        start = fd + 1
    os.closerange(start, 65536)
    _drop_privileges(job["uid"], job["last_cap"])
    if job.get("seccomp", True):
        _seccomp.install(machine)
