"""The seccomp deny list of an execution environment: system calls a function never needs and
that would help it leave or attack its sandbox (mounts, namespaces, modules, tracing other
processes, keyrings, bpf, clocks, reboot). They fail with EPERM; clone3 fails with ENOSYS so
the C library falls back to clone, whose namespace flags are refused too. Other architectures
than the ones listed get no filter (the backend says so). Stdlib only.
"""

import ctypes
import struct

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
DENIED = {
    "x86_64": (
        101,  # ptrace
        103,  # syslog
        155, 165, 166,  # pivot_root, mount, umount2
        163, 164, 227,  # acct, settimeofday, clock_settime
        167, 168, 169, 170, 171, 172, 173,  # swapon, swapoff, reboot, sethostname, setdomainname, iopl, ioperm
        175, 176, 313,  # init_module, delete_module, finit_module
        179,  # quotactl
        212,  # lookup_dcookie
        246, 320,  # kexec_load, kexec_file_load
        248, 249, 250,  # add_key, request_key, keyctl
        272, 308,  # unshare, setns
        298,  # perf_event_open
        303, 304,  # name_to_handle_at, open_by_handle_at
        310, 311, 312,  # process_vm_readv, process_vm_writev, kcmp
        321, 323,  # bpf, userfaultfd
        428, 429, 430, 431, 432, 433, 442,  # open_tree, move_mount, fsopen, fsconfig, fsmount, fspick, mount_setattr
    ),
    "aarch64": (
        117, 116, 41, 40, 39, 89, 170, 112, 224, 225, 142, 161, 162, 105, 106, 273, 60, 104, 294, 217, 218,
        219, 97, 268, 241, 264, 265, 270, 271, 272, 280, 282, 428, 429, 430, 431, 432, 433, 442,
    ),
}
CLONE = {"x86_64": 56, "aarch64": 220}
CLONE3 = {"x86_64": 435, "aarch64": 435}
NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET

LD_W_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
RET_ALLOW, RET_KILL = 0x7FFF0000, 0x80000000
RET_EPERM, RET_ENOSYS = 0x00050000 | 1, 0x00050000 | 38
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2


def program(machine):
    """The filter as (code, jt, jf, k) tuples, or None for an architecture without a list."""
    if machine not in AUDIT_ARCH:
        return None
    denied = DENIED[machine]
    body = [(LD_W_ABS, 0, 0, 4), ("arch", AUDIT_ARCH[machine]), (LD_W_ABS, 0, 0, 0)]
    if machine == "x86_64":
        body.append((JGE, "deny", 0, 0x40000000))  # the x32 ABI
    body += [(JEQ, "deny", 0, nr) for nr in denied]
    body.append((JEQ, "nosys", 0, CLONE3[machine]))
    body.append((JEQ, 0, "allow", CLONE[machine]))
    body.append((LD_W_ABS, 0, 0, 16))  # low half of the flags argument
    body.append((JSET, "deny", "allow", NAMESPACE_FLAGS))
    labels = {"allow": len(body), "deny": len(body) + 1, "nosys": len(body) + 2, "kill": len(body) + 3}
    body += [(RET, 0, 0, RET_ALLOW), (RET, 0, 0, RET_EPERM), (RET, 0, 0, RET_ENOSYS), (RET, 0, 0, RET_KILL)]
    out = []
    for index, item in enumerate(body):
        if item[0] == "arch":
            item = (JEQ, 0, "kill", item[1])
        code, jt, jf, k = item
        jt = labels[jt] - index - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - index - 1 if isinstance(jf, str) else jf
        out.append((code, jt, jf, k))
    return out


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def encode(machine):
    """The filter as raw BPF (struct sock_filter[]), or None for an architecture without a list;
    what `bwrap --seccomp` reads too."""
    instructions = program(machine)
    if instructions is None:
        return None
    return b"".join(struct.pack("HBBI", *i) for i in instructions)


_PREPARED = {}  # machine → (buffer, program, prctl), made once (in the zygote, ahead of any fork)


def prepare(machine):
    """The encoded filter and the libc call that installs it, built once per machine (None for an
    architecture without a list): each environment then only makes the call."""
    if machine not in _PREPARED:
        raw = encode(machine)
        if raw is None:
            _PREPARED[machine] = None
        else:
            buffer = ctypes.create_string_buffer(raw, len(raw))
            prog = _Program(len(raw) // 8, ctypes.cast(buffer, ctypes.c_void_p))
            _PREPARED[machine] = (buffer, prog, ctypes.CDLL(None, use_errno=True).prctl)
    return _PREPARED[machine]


def install(machine):
    """Install the filter on this thread (no_new_privs must already be set). False when this
    architecture has no list."""
    prepared = prepare(machine)
    if prepared is None:
        return False
    _, prog, prctl = prepared
    if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter")
    return True
