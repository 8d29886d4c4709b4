"""Choosing the sandbox backend from the setting and the minimum level (lamina.engine.backends).
Which backends the host supports is faked through `backends.problem`; the backends themselves are
exercised by the functional tests."""

from __future__ import annotations

import pytest

from lamina.engine import backends
from lamina.engine.process_backend import ProcessBackend

NOTHING = {"namespaces": "it needs root", "bubblewrap": "bwrap is not installed"}


@pytest.fixture
def host(monkeypatch):
    """Pretend the host supports the backends not named in the dict it returns (made: name → reason)."""
    problems: dict[str, str] = {}
    monkeypatch.setattr(backends, "problem", lambda name: problems.get(name))
    made: list[str] = []
    monkeypatch.setattr(backends, "_make", lambda name, work_dir: made.append(name) or name)
    return problems, made


def test_process_is_the_plain_backend_and_says_what_it_lacks():
    backend = backends.select("process")
    assert isinstance(backend, ProcessBackend) and backend.name == "process"
    assert "memory limit (MemorySize is reported, not enforced)" in backend.not_enforced
    assert any(item.startswith("filesystem isolation") for item in backend.not_enforced)


@pytest.mark.parametrize(("unsupported", "chosen"), [
    ({}, "namespaces"),
    ({"namespaces": "it needs root"}, "bubblewrap"),
    (NOTHING, "process"),
])
def test_auto_takes_the_most_isolating_backend_the_host_supports(host, unsupported, chosen):
    problems, made = host
    problems.update(unsupported)
    assert backends.select("auto") == chosen


@pytest.mark.parametrize(("setting", "minimum", "unsupported", "message"), [
    ("auto", "namespaces", NOTHING, r"Isolation below namespaces refused \(namespaces: it needs root; "
                                    r"bubblewrap: bwrap is not installed\)"),
    ("auto", "bubblewrap", NOTHING, "Isolation below bubblewrap refused"),
    ("process", "bubblewrap", {}, "The process sandbox backend is below the required isolation level bubblewrap"),
    ("namespaces", "process", NOTHING, "The namespaces sandbox backend cannot run here: it needs root."),
    ("bubblewrap", "process", NOTHING, "The bubblewrap sandbox backend cannot run here: bwrap is not installed."),
    ("docker", "process", {}, "Unknown sandbox backend 'docker'"),
    ("auto", "strict", {}, "Unknown isolation level 'strict'"),
])
def test_refusals_say_why(host, setting, minimum, unsupported, message):
    problems, made = host
    problems.update(unsupported)
    with pytest.raises(ValueError, match=message):
        backends.select(setting, minimum=minimum)
    assert made == []


def test_a_named_backend_the_host_supports_is_made(host):
    _, made = host
    assert backends.select("bubblewrap", minimum="bubblewrap") == "bubblewrap"
    assert made == ["bubblewrap"]
