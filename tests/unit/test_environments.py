"""Keeping the engine's environments in step: what is retired on a change or a delete, and which
provisioned targets reach the engine."""

from lamina.environments import Environments
from lamina.events import FunctionChanged, FunctionDeleted
from lamina.model import LATEST, FunctionVersion


def environments(calls, targets=None, versions=None):
    versions = versions or {}
    return Environments(
        retire=lambda name, version: calls.append(("retire", name, version)),
        provision=lambda wanted: calls.append(("provision", wanted)),
        targets=lambda: targets or {},
        version=lambda name, version: versions.get((name, version)),
        spec_for=lambda v: f"spec {v.name}:{v.version}",
    )


def test_a_change_retires_latest_and_a_delete_retires_everything():
    calls = []
    envs = environments(calls)
    envs.retire(FunctionChanged("f"))
    envs.retire(FunctionDeleted("g"))
    assert calls == [("retire", "f", LATEST), ("retire", "g", None)]


def test_only_active_versions_that_still_exist_are_provisioned():
    calls = []
    versions = {("f", "1"): FunctionVersion(name="f", version="1", state="Active"),
                ("f", "2"): FunctionVersion(name="f", version="2", state="Pending")}
    envs = environments(calls, targets={("f", "1"): 3, ("f", "2"): 1, ("gone", "1"): 2}, versions=versions)
    envs.provision(FunctionChanged("f"))
    assert calls == [("provision", {("f", "1"): ("spec f:1", 3)})]
