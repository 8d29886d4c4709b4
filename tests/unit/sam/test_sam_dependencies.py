"""lamina.sam.dependencies: the pip command for Lambda's platform, and what a failure names."""

from __future__ import annotations

import pytest

from lamina.sam.dependencies import (
    DependencyError,
    missing_requirement,
    pip_command,
    pip_platforms,
    python_version,
)

PLATFORMS = [
    ("python3.11", "x86_64", "manylinux_2_26_x86_64", "manylinux_2_27_x86_64"),  # AL2: glibc 2.26
    ("python3.12", "x86_64", "manylinux_2_34_x86_64", "manylinux_2_35_x86_64"),  # AL2023: glibc 2.34
    ("python3.13", "arm64", "manylinux2014_aarch64", "manylinux2014_x86_64"),
    ("python3.9", "arm64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64"),
]


@pytest.mark.parametrize(("runtime", "arch", "included", "excluded"), PLATFORMS)
def test_platforms_follow_the_runtimes_linux(runtime, arch, included, excluded):
    tags = pip_platforms(runtime, arch)
    assert included in tags and excluded not in tags
    assert tags[0].startswith("manylinux_2_")  # newest first


def test_pip_command_targets_the_runtime(tmp_path):
    command = pip_command(tmp_path / "requirements.txt", tmp_path / "out", "python3.12", "arm64")
    assert command[command.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in command and "--no-compile" in command
    assert command[command.index("--implementation") + 1] == "cp"
    assert "manylinux2014_aarch64" in command


MISSING = [
    ("ERROR: Could not find a version that satisfies the requirement nopkg==1.0 (from versions: none)\n"
     "ERROR: No matching distribution found for nopkg==1.0", "nopkg==1.0"),
    ("ERROR: No matching distribution found for pillow", "pillow"),
    ("ERROR: something else", None),
]


@pytest.mark.parametrize(("output", "name"), MISSING)
def test_missing_requirement(output, name):
    assert missing_requirement(output) == name


def test_python_version():
    assert python_version("python3.12") == "3.12"
    with pytest.raises(DependencyError):
        python_version("nodejs20.x")
