"""Image references and safe layer unpacking: traversal, links out of the tree, device nodes,
whiteouts and opaque directories."""

import gzip
import io
import os
import tarfile

import pytest
import zstandard

from lamina.images import layerstream, reference, unpack
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


ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


def _compressed(codec: str, data: bytes) -> bytes:
    if codec == ZSTD:
        # two frames, written in pieces, as a streaming compressor may
        compressor = zstandard.ZstdCompressor()
        return compressor.compress(data[:700]) + compressor.compress(data[700:])
    if codec == GZ:
        return gzip.compress(data[:700]) + gzip.compress(data[700:])  # two gzip members
    return data


@pytest.mark.parametrize("codec", [ZSTD, GZ, TAR])
def test_each_compression_streams_in_small_chunks(tmp_path, codec):
    big = os.urandom(300_000)
    blob = _compressed(codec, _layer(("a/long/" + "n" * 150, tarfile.REGTYPE, b"named"),
                                     ("big", tarfile.REGTYPE, big), ("small", tarfile.REGTYPE, b"s")).getvalue())
    chunks = (blob[i:i + 997] for i in range(0, len(blob), 997))
    unpack.apply_chunks(chunks, codec, str(tmp_path), [10 ** 9], threaded=True)
    assert (tmp_path / "a/long" / ("n" * 150)).read_bytes() == b"named"  # a PAX/GNU long name
    assert (tmp_path / "big").read_bytes() == big and (tmp_path / "small").read_bytes() == b"s"


def test_a_damaged_compressed_layer_is_invalid(tmp_path):
    blob = zstandard.ZstdCompressor().compress(_layer(("f", tarfile.REGTYPE, b"x" * 5000)).getvalue())
    for damaged in (blob[:len(blob) // 2], blob[:10] + b"garbage" + blob[17:]):
        with pytest.raises(ImageError) as info:
            unpack.apply_chunks([damaged], ZSTD, str(tmp_path), [10 ** 9])
        assert info.value.code == "InvalidImage"
    with pytest.raises(ImageError):
        unpack.apply_chunks([gzip.compress(b"x" * 4096)[:-30]], GZ, str(tmp_path), [10 ** 9])


def test_chunks_are_checked_against_their_digest():
    chunks = layerstream.verified([b"abc", b"def"], "sha256:" + "0" * 64, "img")
    with pytest.raises(ImageError, match="does not match its digest"):
        list(chunks)


def test_an_unknown_media_type_is_refused(tmp_path):
    with pytest.raises(ImageError, match="media type"):
        unpack.apply_layer(io.BytesIO(b""), "application/vnd.oci.image.layer.v1.tar+lz4", str(tmp_path), [10])


def test_unknown_member_kinds_are_left_out_and_sparse_files_refused(tmp_path):
    odd = _layer(("volume", b"V", None), ("after", tarfile.REGTYPE, b"kept")).getvalue()
    unpack.apply_chunks([odd], TAR, str(tmp_path), [10 ** 9])
    assert (tmp_path / "after").read_bytes() == b"kept" and not (tmp_path / "volume").exists()
    sparse = _layer(("holes", tarfile.GNUTYPE_SPARSE, None)).getvalue()
    with pytest.raises(ImageError, match="sparse"):
        unpack.apply_chunks([sparse], TAR, str(tmp_path / "s"), [10 ** 9])


def test_ahead_hands_over_the_producers_error_and_stops_when_left():
    def failing():
        yield b"one"
        raise ValueError("network gone")

    got = layerstream.ahead(failing())
    assert next(got) == b"one"
    with pytest.raises(ValueError, match="network gone"):
        next(got)
    produced = []

    def endless():
        while True:
            produced.append(1)
            yield b"x"

    stream = layerstream.ahead(endless(), depth=2)
    assert next(stream) == b"x"
    stream.close()  # the producer thread ends (close() joins it) instead of running on
    assert len(produced) <= 5


def _engines():
    import zlib

    from isal import isal_zlib
    return [pytest.param(zlib, id="zlib"), pytest.param(isal_zlib, id="isal")]


def test_gzip_is_inflated_by_isal_when_installed():
    from isal import isal_zlib
    assert layerstream._inflate is isal_zlib


@pytest.mark.parametrize("engine", _engines())
@pytest.mark.parametrize("size", [1, 4093, 1 << 16, None])
def test_both_inflaters_unpack_the_same_tree(tmp_path, monkeypatch, engine, size):
    # a first member larger than one decompression step, ending inside a chunk that holds the
    # next member (zlib then leaves that member in unconsumed_tail as well as in unused_data),
    # then NUL padding that may arrive in chunks of its own
    monkeypatch.setattr(layerstream, "_inflate", engine)
    big = os.urandom(50_000) * 30  # 1.5 MB, compresses well
    tar = _layer(("big", tarfile.REGTYPE, big), ("dir/small", tarfile.REGTYPE, b"s"),
                 ("link", tarfile.SYMTYPE, "dir/small")).getvalue()
    cut = 1_600_000
    blob = gzip.compress(tar[:cut]) + gzip.compress(tar[cut:]) + b"\0" * 3000
    size = size or len(blob)
    unpack.apply_chunks((blob[i:i + size] for i in range(0, len(blob), size)), GZ, str(tmp_path), [10 ** 9],
                        threaded=size > 1)
    assert (tmp_path / "big").read_bytes() == big
    assert (tmp_path / "dir/small").read_bytes() == b"s" and os.readlink(tmp_path / "link") == "dir/small"
    assert sorted(os.listdir(tmp_path)) == ["big", "dir", "link"]


@pytest.mark.parametrize("engine", _engines())
@pytest.mark.parametrize("damage", ["header", "checksum", "truncated", "garbage after a member"])
def test_a_damaged_gzip_layer_is_invalid_with_either_inflater(tmp_path, monkeypatch, engine, damage):
    monkeypatch.setattr(layerstream, "_inflate", engine)
    blob = gzip.compress(_layer(("f", tarfile.REGTYPE, os.urandom(5000))).getvalue())
    damaged = {"header": b"\x1f\x8c" + blob[2:], "checksum": blob[:-8] + bytes(8 - 1) + b"\x01",
               "truncated": blob[:len(blob) // 2], "garbage after a member": blob + b"\0\0garbage"}[damage]
    with pytest.raises(ImageError) as info:
        unpack.apply_chunks([damaged[:1000], damaged[1000:]], GZ, str(tmp_path), [10 ** 9])
    assert info.value.code == "InvalidImage"
    assert "cannot be unpacked" in info.value.message or "ends before its end" in info.value.message


def test_the_environments_names_are_added_to_the_images_own_hosts_file(tmp_path):
    from lamina.engine import hosts

    assert unpack.HOST_NAMES == hosts.NAMES and unpack.LOOPBACK == hosts.LOOPBACK  # as zip functions see them
    own = "127.0.0.1 localhost\n10.1.2.3 db.internal  # the image's own\n"
    cases = [  # (the image's /etc/hosts or None, what the unpacked root has)
        (own, own + "127.0.0.1\tlocalhost.localdomain sandbox sandbox.localdomain\n"),
        ("127.0.0.1 localhost", "127.0.0.1 localhost\n127.0.0.1\tlocalhost.localdomain sandbox sandbox.localdomain\n"),
        ("127.0.0.1 localhost localhost.localdomain sandbox sandbox.localdomain\n",
         "127.0.0.1 localhost localhost.localdomain sandbox sandbox.localdomain\n"),  # left as it is
        ("# 127.0.0.1 sandbox\n", "# 127.0.0.1 sandbox\n127.0.0.1\t" + " ".join(hosts.NAMES) + "\n"),
        (None, "127.0.0.1\t" + " ".join(hosts.NAMES) + "\n"),  # an image without one
    ]
    for i, (text, want) in enumerate(cases):
        root = tmp_path / str(i)
        (root / "etc").mkdir(parents=True)
        if text is not None:
            (root / "etc" / "hosts").write_text(text)
        unpack.add_host_names(str(root))
        assert (root / "etc" / "hosts").read_text() == want, text
        assert sorted(os.listdir(root / "etc")) == ["hosts"]


def test_a_symlinked_hosts_file_or_etc_is_left_alone(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("127.0.0.1 localhost\n")
    root = tmp_path / "link"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").symlink_to(outside)
    unpack.add_host_names(str(root))
    other = tmp_path / "etc-link"
    other.mkdir()
    (other / "etc").symlink_to(tmp_path / "elsewhere")
    unpack.add_host_names(str(other))
    assert outside.read_text() == "127.0.0.1 localhost\n" and not (tmp_path / "elsewhere").exists()
