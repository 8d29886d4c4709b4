"""Choosing the sandbox backend from the setting (lamina.engine.backends)."""

from __future__ import annotations

import pytest

from lamina.engine import backends
from lamina.engine.process_backend import ProcessBackend


@pytest.mark.parametrize("setting", ["auto", "process"])
def test_auto_and_process_give_the_process_backend(setting):
    backend = backends.select(setting)
    assert isinstance(backend, ProcessBackend) and backend.name == "process"
    assert "memory limit (MemorySize is reported, not enforced)" in backend.not_enforced
    assert any(item.startswith("filesystem isolation") for item in backend.not_enforced)


@pytest.mark.parametrize(("setting", "message"), [
    ("namespaces", "The namespaces sandbox backend is not available in this lamina build"),
    ("bubblewrap", "The bubblewrap sandbox backend is not available in this lamina build"),
    ("docker", "Unknown sandbox backend 'docker'"),
])
def test_other_settings_are_refused(setting, message):
    with pytest.raises(ValueError, match=message):
        backends.select(setting)
