"""The `process` sandbox backend: each environment is a plain child process (its own session and
process group) with a few rlimits. It isolates almost nothing, says so in `not_enforced`, and is
the last resort where neither namespaces nor bubblewrap are available.

Nor does it show AWS's layout (issue 21, item 9): without a mount namespace nothing can appear
at /var/task, /var/runtime or /var/lang, so a function sees host paths: LAMBDA_TASK_ROOT is the
unpacked code's directory, LAMBDA_RUNTIME_DIR and PYTHONPATH the runtime image in the data dir,
sys.executable and PATH's first entry the host interpreter's, and the whole host file system is
listable. Only the variables' names and the PATH order match AWS's. Nor can it show Lambda's
/etc/hosts (lamina.engine.hosts): names resolve as on the host, where `sandbox` and
`sandbox.localdomain` usually do not, so an extension that listens on them fails to start here;
`not_enforced` says so.

Owns spawning the runtime as a child with its rlimits; the socketpair, output pipe, exit
detection, signalling the process group and peak-memory readings are lamina.engine.piped's.
Keeps nothing beside its environments, so it needs no dependencies and its close() has nothing
to do. Imports lamina.engine.sandbox and lamina.engine.piped only.
"""

from __future__ import annotations

import contextlib
import resource
import subprocess
from pathlib import Path

from lamina.engine.piped import RLIMITS, Child, PipedSandbox, Plumbing
from lamina.engine.sandbox import Launch, Layout, Mounts, Sandbox, SandboxBackend


class ProcessSandbox(PipedSandbox):
    """A plain child process: its exit seen by a `Child` watch, its whole process group signalled."""

    def __init__(self, proc: subprocess.Popen, plumbing: Plumbing) -> None:
        super().__init__(proc.pid, plumbing)
        self._child = Child(proc, self.exited)

    def _signal(self, signum: int) -> None:
        self._child.signal_group(signum)

    def close(self) -> None:
        self._child.close()
        super().close()


CANNOT_MOUNT = ("the process sandbox backend cannot mount file systems (FileSystemConfigs): run lamina as root "
                "(namespaces backend) or with bubblewrap")


class ProcessBackend(SandboxBackend):
    name = "process"
    not_enforced = [
        "filesystem isolation (functions see and can write the host's files as lamina's user; "
        "/var/task and /opt are host paths)",
        "private /tmp (TMPDIR points at a per-environment directory, but /tmp is the host's)",
        "memory limit (MemorySize is reported, not enforced)",
        "ephemeral storage limit",
        "pid namespace (functions see host processes)",
        "network isolation",
        "unprivileged uid, capability drop and seccomp (functions run as lamina's own user)",
        "cpu share",
        "Lambda's /etc/hosts (the host's is used: `sandbox` and `sandbox.localdomain` resolve only where the "
        "host resolves them, so an extension cannot listen on them; the Telemetry and Logs APIs still deliver "
        "to them at 127.0.0.1)",
    ]

    def layout(self, mounts: Mounts, interpreter: str) -> Layout:
        bin_dir = Path(interpreter).parent
        return Layout(
            task_root=str(mounts.code_dir),
            opt_dirs=tuple(str(d) for d in reversed(mounts.layer_dirs)),
            runtime_dir=str(mounts.runtime_dir),
            site_dir=str(mounts.site_dir) if mounts.site_dir else None,
            tmp_dir=str(mounts.tmp_dir),
            bin_dirs=(str(bin_dir),),
            lib_dirs=(str(bin_dir.parent / "lib"),),
        )

    async def start(self, launch: Launch) -> Sandbox:
        if launch.mounts.file_systems:
            raise OSError(CANNOT_MOUNT)
        if launch.mounts.image_root is not None:
            raise OSError("the process sandbox backend cannot run container images: it cannot make the image the "
                          "environment's root")
        launch.mounts.tmp_dir.mkdir(parents=True, exist_ok=True)
        with Plumbing() as plumbing:
            proc = subprocess.Popen(
                [launch.interpreter, "-s", "-u", str(launch.bootstrap)],
                cwd=launch.mounts.code_dir, env=plumbing.environment(launch.env), stdin=subprocess.DEVNULL, stdout=plumbing.output_fd,
                stderr=plumbing.output_fd, pass_fds=(plumbing.channel_fd,), start_new_session=True,
            )
        for limit, value in RLIMITS:
            with contextlib.suppress(OSError, ValueError):
                resource.prlimit(proc.pid, limit, (value, value))
        return ProcessSandbox(proc, plumbing)
