"""The runtime image (lamina.engine.runtime_site): what /var/runtime holds, built from real files."""

from __future__ import annotations

import os

from lamina.engine import runtime_site


def _no_links(root):
    return [p for p, dirs, files in os.walk(root) for name in dirs + files if os.path.islink(os.path.join(p, name))]


def test_the_python_image_holds_the_runtime_and_boto3_as_real_files(tmp_path):
    image = runtime_site.build(tmp_path / "site")
    python = image / "python"
    assert (python / "bootstrap.py").is_file() and (python / "_lamina_channel.py").is_file()
    assert (python / "boto3" / "__init__.py").is_file() and (python / "botocore" / "__init__.py").is_file()
    assert list(python.glob("boto3-*.dist-info"))
    assert not list(python.rglob("__pycache__"))
    assert _no_links(image) == []  # a symlink would point at a host path the environment cannot see
    source = runtime_site.RUNTIMES / "python" / "bootstrap.py"
    assert (python / "bootstrap.py").read_bytes() == source.read_bytes()


def test_the_rapid_image_holds_rapid_its_channel_and_nodes_bootstrap(tmp_path):
    rapid = runtime_site.build(tmp_path / "site") / "rapid"
    assert {"bootstrap.py", "rapid_api.py", "rapid_frames.py", "_lamina_channel.py"} <= {p.name for p in rapid.iterdir()}
    assert (rapid / "node" / "bootstrap.cjs").is_file()
    assert not (rapid / "boto3").exists()


def test_an_image_is_reused_for_the_same_sources_and_others_are_removed(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "boto3").symlink_to(tmp_path)  # what an older lamina left (links), removed too
    (site / "image-0000000000000000").mkdir()  # an image of other sources
    first = runtime_site.build(site)
    marker = first / "python" / "kept"
    marker.touch()
    second = runtime_site.build(site)
    assert first == second and marker.exists()  # not rebuilt
    assert sorted(site.iterdir()) == [second]
    assert tmp_path.is_dir()  # a link's target is never followed
    assert first.name == f"image-{runtime_site.fingerprint()}"
