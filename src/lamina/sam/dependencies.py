"""Installing a function's dependencies for the Lambda platform, without Docker.

Python: pip with `--platform`, `--python-version`, `--implementation cp` and `--only-binary=:all:`
installs the wheels built for the function's runtime and architecture (so a C extension such as
Pillow or NumPy is the one Lambda's Linux runs, whatever the host is); a requirement with no such
wheel fails with `DependencyError` naming it. Node.js: `npm install --omit=dev` in the build copy.
The pure part (`pip_platforms`, `pip_command`, `missing_requirement`) is separate from the
subprocess calls. Imports nothing from lamina.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

# glibc of each runtime family's Amazon Linux: AL2 (2.26) for python3.11 and older, AL2023 (2.34) after.
AL2_GLIBC, AL2023_GLIBC = 26, 34
_ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}
_NO_WHEEL = re.compile(r"(?:Could not find a version that satisfies the requirement|"
                       r"No matching distribution found for) ([^\s(]+)")


class DependencyError(RuntimeError):
    """Dependencies that cannot be installed for the target; the message says which and why."""


def python_version(runtime: str) -> str:
    """`python3.12` → `3.12`."""
    match = re.fullmatch(r"python(\d+)\.(\d+)", runtime)
    if not match:
        raise DependencyError(f"{runtime} is not a Python runtime")
    return f"{match[1]}.{match[2]}"


def pip_platforms(runtime: str, architecture: str) -> list[str]:
    """Every manylinux platform tag the runtime's Amazon Linux can load, newest first."""
    arch = _ARCH[architecture]
    major, minor = (int(p) for p in python_version(runtime).split("."))
    glibc = AL2023_GLIBC if (major, minor) >= (3, 12) else AL2_GLIBC
    tags = [f"manylinux_2_{v}_{arch}" for v in range(glibc, 16, -1)]
    tags.append(f"manylinux2014_{arch}")
    if arch == "x86_64":
        tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
    return tags


def pip_command(requirements: Path, target: Path, runtime: str, architecture: str) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
               "--no-compile", "--only-binary=:all:", "--implementation", "cp",
               "--python-version", python_version(runtime), "--target", str(target), "-r", str(requirements)]
    for tag in pip_platforms(runtime, architecture):
        command += ["--platform", tag]
    return command


def missing_requirement(pip_output: str) -> str | None:
    """The requirement pip found no installable distribution for, if that is why it failed."""
    match = _NO_WHEEL.search(pip_output)
    return match[1] if match else None


def install_python(requirements: Path, target: Path, runtime: str, architecture: str) -> None:
    done = subprocess.run(pip_command(requirements, target, runtime, architecture),
                          capture_output=True, text=True)
    if done.returncode != 0:
        output = done.stderr + done.stdout
        name = missing_requirement(output)
        if name:
            raise DependencyError(
                f"{name} has no binary wheel for {runtime} on {architecture} (manylinux): lamina builds "
                f"without Docker, so every dependency must come as a wheel for Lambda's platform")
        raise DependencyError(f"pip failed for {requirements}: {output.strip().splitlines()[-1:] or ['?']}")


def install_node(directory: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DependencyError("package.json needs npm to install the dependencies; npm is not on PATH")
    done = subprocess.run([npm, "install", "--omit=dev", "--no-audit", "--no-fund", "--no-package-lock"],
                          cwd=directory, capture_output=True, text=True)
    if done.returncode != 0:
        raise DependencyError(f"npm install failed in {directory}: {(done.stderr or done.stdout).strip()[-500:]}")
