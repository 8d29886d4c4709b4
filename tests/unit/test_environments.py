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


def test_the_runtimes_in_use_are_each_runtime_once_images_as_one_and_failed_versions_none():
    from lamina.environments import runtimes_in_use

    table = [
        ([], []),
        ([FunctionVersion(name="f", runtime="python3.12", state="Active")], [("python3.12", False)]),
        ([FunctionVersion(name="f", runtime="python3.12", state="Active"),
          FunctionVersion(name="f", version="1", runtime="python3.11", state="Active"),
          FunctionVersion(name="g", runtime="python3.12", state="Pending")], [("python3.12", False), ("python3.11", False)]),
        ([FunctionVersion(name="f", runtime="python3.13", state="Failed")], []),
        ([FunctionVersion(name="i", package_type="Image", state="Active"),
          FunctionVersion(name="j", package_type="Image", state="Inactive")], [("", True)]),
        ([FunctionVersion(name="n", runtime="nodejs22.x", state="Active")], [("nodejs22.x", False)]),
    ]
    for versions, wanted in table:
        assert runtimes_in_use(versions) == wanted, versions


def test_a_change_and_the_start_make_the_runtimes_in_use_ready_ahead():
    prepared = []
    versions = {("f", LATEST): FunctionVersion(name="f", runtime="python3.11", state="Active"),
                ("bad", LATEST): FunctionVersion(name="bad", runtime="python3.12", state="Failed")}
    deployed = [*versions.values(), FunctionVersion(name="f", version="1", runtime="python3.13", state="Active")]
    envs = Environments(retire=lambda *a: None, provision=lambda wanted: None, targets=dict,
                        version=lambda name, version: versions.get((name, version)), spec_for=str,
                        prepare_runtime=lambda runtime, image: prepared.append((runtime, image)),
                        versions=lambda: deployed)
    envs.prepare(FunctionChanged("f"))
    envs.prepare(FunctionChanged("bad"))
    envs.prepare(FunctionChanged("gone"))
    assert prepared == [("python3.11", False)]
    prepared.clear()
    envs.prepare_deployed()
    assert prepared == [("python3.11", False), ("python3.13", False)]
