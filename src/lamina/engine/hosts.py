"""The execution environment's /etc/hosts: what its names resolve to inside.

On Lambda `sandbox` and `sandbox.localdomain` resolve inside the environment: the Telemetry and
Logs APIs deliver to `http://sandbox.localdomain:PORT/`, and extensions listen on those names
(AWS's Go Logs API sample on `sandbox:PORT`, its Python Telemetry sample on
`sandbox.localdomain:PORT`). Outside Lambda they do not resolve ("lookup sandbox.localdomain:
no such host" under `sam local`), so an environment needs them from lamina. The isolating
backends show this file at /etc/hosts over the host's (the rest of the host's /etc stays):
`sandbox`, `sandbox.localdomain` and `localhost` are the environment's loopback, 127.0.0.1, the
address rapid delivers to. The file is written once per work directory and bound (namespaces:
copied once into a tmpfs of the zygote's mount namespace, so no host path shows in mountinfo);
no environment writes anything. A container image keeps its own /etc/hosts (Lambda does not replace
it), to which lamina.images.unpack adds the same names once, when the image is unpacked: the names
and their address are that module's, so both kinds of function see the same. Imports
lamina.images.unpack only.
"""

from __future__ import annotations

import os
from pathlib import Path

from lamina.images.unpack import HOST_NAMES as NAMES
from lamina.images.unpack import LOOPBACK

CONTENT = f"{LOOPBACK}\t{' '.join(NAMES)}\n"
TARGET = "/etc/hosts"


def prepare(directory: Path) -> str:
    """The hosts file in `directory` (written, atomically, unless it already says CONTENT)."""
    path = Path(directory) / "hosts"
    try:
        if path.read_text() == CONTENT:
            return str(path)
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".hosts.{os.getpid()}")
    partial.write_text(CONTENT)
    os.chmod(partial, 0o644)
    os.replace(partial, path)
    return str(path)

