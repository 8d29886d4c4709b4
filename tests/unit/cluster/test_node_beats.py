"""What a node's beat says about its host, and how a worker localizes a spec from the wire."""

from __future__ import annotations

from pathlib import Path

from lamina.cluster import wire
from lamina.cluster.localize import Localizer
from lamina.cluster.nodes import free_memory_mb, version_key
from lamina.engine.spec import FileSystemMount, RunSpec

MEMINFO = """MemTotal:       24683520 kB
MemFree:         1000000 kB
MemAvailable:   20480000 kB
Buffers:          123456 kB
"""


def test_free_memory_reads_mem_available():
    assert free_memory_mb(MEMINFO) == (20000, 24105)
    assert free_memory_mb("MemTotal: 2048 kB\nMemFree: 1024 kB\n") == (1, 2)


def test_version_keys():
    assert version_key("f", "$LATEST") == "f:$LATEST"


def _localizer(calls: list) -> Localizer:
    return Localizer(unpacked=lambda digest: calls.append(digest) or Path("/w/unpacked") / digest,
                     interpreter=lambda runtime: f"/usr/bin/{runtime}", executable=lambda runtime: None,
                     file_system_dir=lambda arn: Path("/w/fs") if arn == "arn:fs" else None,
                     image=lambda uri, arch: (Path("/w/images") / uri[-4:], {"Cmd": ["serve"], "Env": ["A=1"]}))


def test_a_worker_makes_its_own_paths_for_a_zip_spec():
    spec = RunSpec(function_name="f", version="1", function_arn="arn", revision_id="r", runtime="python3.12",
                   handler="app.h", code_dir=Path("/front/code"), interpreter="/front/python",
                   layer_dirs=(Path("/front/layer"),), code_sha256="a" * 64, layer_sha256s=("b" * 64,),
                   file_systems=(FileSystemMount("arn:fs", "/mnt/x", Path("/front/fs")),
                                 FileSystemMount("arn:other", "/mnt/y", Path("/front/other"))))
    calls: list = []
    local = _localizer(calls).localize(wire.spec_from_bytes(wire.spec_bytes(spec)))
    assert local.code_dir == Path("/w/unpacked") / ("a" * 64)
    assert local.layer_dirs == (Path("/w/unpacked") / ("b" * 64),)
    assert local.interpreter == "/usr/bin/python3.12"
    assert [fs.host_dir for fs in local.file_systems] == [Path("/w/fs"), None]
    assert calls == ["a" * 64, "b" * 64]


def test_a_worker_pulls_an_image_by_its_digest_uri():
    spec = RunSpec(function_name="f", version="1", function_arn="arn", revision_id="r", runtime="", handler="",
                   code_dir=Path(), interpreter=None, image_uri="reg/r@sha256:" + "c" * 64,
                   image_overrides={"EntryPoint": ["/entry"]})
    local = _localizer([]).localize(spec)
    assert local.image is not None and local.image.root == Path("/w/images/cccc") == local.code_dir
    assert local.image.argv == ("/entry", "serve") and local.image.env == (("A", "1"),)
    assert local.interpreter == "/usr/bin/provided.al2023"
