"""Which runtime a front's "prepare" command (sent on every function create or change) has a worker
make ready ahead: the command as RemoteEngine.prepare_runtime writes it, and what a worker ignores."""

from __future__ import annotations

import pytest

from lamina.worker import runtime_to_prepare


@pytest.mark.parametrize(("command", "expected"), [
    ({"op": "prepare", "runtime": "python3.12", "image": False}, ("python3.12", False)),
    ({"op": "prepare", "runtime": "provided.al2023", "image": False}, ("provided.al2023", False)),
    ({"op": "prepare", "runtime": "", "image": True}, ("", True)),  # every image function shares one
    ({"op": "prepare", "runtime": "python3.12", "image": True}, ("", True)),
    ({"op": "prepare", "runtime": "python3.12"}, ("python3.12", False)),
    ({"op": "prepare", "runtime": "", "image": False}, None),  # a zip function without a runtime: none
    ({"op": "prepare"}, None),
    ({"op": "prepare", "runtime": 12}, None),
    ({"op": "prepare", "runtime": None, "image": "yes"}, None),
])
def test_the_runtime_a_prepare_command_names(command, expected):
    assert runtime_to_prepare(command) == expected
