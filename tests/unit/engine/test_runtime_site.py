"""The runtime image (lamina.engine.runtime_site): what /var/runtime holds, built from real files."""

from __future__ import annotations

import os
import time

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


def test_an_image_is_reused_and_only_stale_images_are_removed(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "boto3").symlink_to(tmp_path)  # what an older lamina left (links), removed
    fresh = site / "image-0000000000000000"  # another lamina's image, in use: kept
    fresh.mkdir()
    stale = site / "image-1111111111111111"  # unused for longer than STALE_AFTER: removed
    stale.mkdir()
    old = time.time() - runtime_site.STALE_AFTER - 60
    os.utime(stale, (old, old))
    building = site / ".image-2222222222222222-abcd1234"  # a build that died an hour ago
    building.mkdir()
    old = time.time() - runtime_site.BUILDING_STALE_AFTER - 60
    os.utime(building, (old, old))
    first = runtime_site.build(site)
    marker = first / "python" / "kept"
    marker.touch()
    os.utime(first, (0, 0))
    second = runtime_site.build(site)
    assert first == second and marker.exists()  # not rebuilt
    assert time.time() - second.stat().st_mtime < 60  # marked used
    assert sorted(site.iterdir()) == sorted([second, fresh])
    assert tmp_path.is_dir()  # a link's target is never followed
    assert first.name == f"image-{runtime_site.fingerprint()}"


def test_an_unwritable_images_directory_falls_back(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    image = runtime_site.build(blocked / "runtime", fallback=tmp_path / "data" / "runtime")
    assert image.parent == tmp_path / "data" / "runtime"
    assert (image / "python" / "bootstrap.py").is_file()
