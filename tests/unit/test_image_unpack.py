"""Image references and safe layer unpacking: traversal, links out of the tree, device nodes,
whiteouts and opaque directories."""

import io
import os
import tarfile

import pytest

from lamina.images import reference, unpack
from lamina.images.registry import ImageError

GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR = "application/vnd.oci.image.layer.v1.tar"


@pytest.mark.parametrize(("uri", "parts"), [
    ("127.0.0.1:5000/lambda/app:v1", ("127.0.0.1:5000", "lambda/app", "v1", None)),
    ("localhost/app", ("localhost", "app", "latest", None)),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/repo@sha256:" + "a" * 64,
     ("123456789012.dkr.ecr.us-east-1.amazonaws.com", "repo", None, "sha256:" + "a" * 64)),
])
def test_parse(uri, parts):
    ref = reference.parse(uri)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == parts


@pytest.mark.parametrize("uri", ["", "app:v1", "docker.io/Upper/app", "host.example/app@sha256:short",
                                 "host.example/app:bad tag", " host.example/app"])
def test_parse_refuses(uri):
    with pytest.raises(ValueError):
        reference.parse(uri)


def _layer(*members) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o6755 if kind == tarfile.REGTYPE else 0o755
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = data
                tar.addfile(info)
            elif kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    buffer.seek(0)
    return buffer


def _apply(root, *members):
    unpack.apply_layer(_layer(*members), TAR, str(root), [10 ** 9])


def test_files_links_and_no_setuid(tmp_path):
    _apply(tmp_path, ("usr/bin/tool", tarfile.REGTYPE, b"x"), ("bin", tarfile.SYMTYPE, "usr/bin"),
           ("bin/hard", tarfile.LNKTYPE, "usr/bin/tool"))
    assert (tmp_path / "usr/bin/tool").read_bytes() == b"x"
    assert os.stat(tmp_path / "usr/bin/tool").st_mode & 0o7777 == 0o755  # setuid/setgid dropped
    assert os.readlink(tmp_path / "bin") == "usr/bin"
    assert (tmp_path / "usr/bin/hard").read_bytes() == b"x"  # written through bin -> usr/bin, inside the root


def test_absolute_symlink_parents_stay_inside(tmp_path):
    _apply(tmp_path, ("etc", tarfile.SYMTYPE, "/outside-dir"), ("etc/passwd", tarfile.REGTYPE, b"p"))
    assert (tmp_path / "outside-dir" / "passwd").read_bytes() == b"p"  # re-rooted, never the host's /


@pytest.mark.parametrize("members", [
    [("../escape", tarfile.REGTYPE, b"x")],
    [("a/../../escape", tarfile.REGTYPE, b"x")],
    [("link", tarfile.SYMTYPE, "../../etc")],
    [("hard", tarfile.LNKTYPE, "/etc/passwd")],
    [("dev/sda", tarfile.BLKTYPE, None)],
    [("dev/null", tarfile.CHRTYPE, None)],
])
def test_refused(tmp_path, members):
    with pytest.raises(ImageError) as info:
        _apply(tmp_path / "root", *members)
    assert info.value.code == "InvalidImage"
    assert not (tmp_path / "escape").exists()


def test_whiteouts_and_opaque_directories(tmp_path):
    _apply(tmp_path, ("a/keep", tarfile.REGTYPE, b"1"), ("a/gone", tarfile.REGTYPE, b"2"),
           ("b/old", tarfile.REGTYPE, b"3"))
    _apply(tmp_path, ("a/.wh.gone", tarfile.REGTYPE, b""), ("b/new", tarfile.REGTYPE, b"4"),
           ("b/.wh..wh..opq", tarfile.REGTYPE, b""))
    assert sorted(os.listdir(tmp_path / "a")) == ["keep"]
    assert sorted(os.listdir(tmp_path / "b")) == ["new"]  # the opaque dir keeps this layer's own entries


def test_size_limit(tmp_path):
    with pytest.raises(ImageError, match="10 GB"):
        unpack.apply_layer(_layer(("big", tarfile.REGTYPE, b"x" * 100)), TAR, str(tmp_path), [10])


def test_zstd_is_an_unsupported_media_type(tmp_path):
    with pytest.raises(ImageError, match="media type"):
        unpack.apply_layer(io.BytesIO(b""), "application/vnd.oci.image.layer.v1.tar+zstd", str(tmp_path), [10])
