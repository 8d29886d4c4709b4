"""lamina.sam.packaging: the same tree gives the same zip bytes; modes kept; caches left out."""

from __future__ import annotations

import io
import os
import zipfile

from lamina.sam.packaging import code_sha256, files, inputs_digest, zip_tree


def tree(root):
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"junk")
    (root / "pkg" / "m.py").write_text("x = 1\n")
    (root / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (root / "bootstrap").write_text("#!/bin/sh\n")
    (root / "bootstrap").chmod(0o755)
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref")
    return root


def test_same_tree_same_bytes_whatever_the_times(tmp_path):
    root = tree(tmp_path / "t")
    first = zip_tree(files(root))
    for path in root.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    assert zip_tree(files(root)) == first
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == ["app.py", "bootstrap", "pkg/m.py"]  # sorted; no .git, __pycache__ or .pyc


def test_modes_are_kept(tmp_path):
    root = tree(tmp_path / "t")
    infos = {i.filename: i for i in zipfile.ZipFile(io.BytesIO(zip_tree(files(root)))).infolist()}
    assert (infos["bootstrap"].external_attr >> 16) & 0o777 == 0o755
    assert (infos["app.py"].external_attr >> 16) & 0o777 == 0o644
    assert infos["app.py"].date_time == (1980, 1, 1, 0, 0, 0)


def test_inputs_digest_follows_content_mode_and_settings(tmp_path):
    root = tree(tmp_path / "t")
    before = inputs_digest(root, "python3.12", "x86_64")
    assert inputs_digest(root, "python3.12", "x86_64") == before
    assert inputs_digest(root, "python3.12", "arm64") != before
    (root / "app.py").chmod(0o755)
    assert inputs_digest(root, "python3.12", "x86_64") != before
    (root / "app.py").chmod(0o644)
    (root / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"other junk")
    assert inputs_digest(root, "python3.12", "x86_64") == before
    (root / "app.py").write_text("changed\n")
    assert inputs_digest(root, "python3.12", "x86_64") != before


def test_code_sha256_is_lambdas_form():
    assert code_sha256(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
