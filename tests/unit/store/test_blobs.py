"""The blob store: content addressing, atomic writes, the read-only unpack cache, deletion."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import struct
import threading
import time
import zipfile
from pathlib import Path

import pytest

from lamina.errors import InvalidParameterValueException
from lamina.store import archive
from lamina.store.blobs import Blob, BlobStore

UNZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."


def make_zip(files: dict[str, tuple[bytes, int]]) -> bytes:
    """name -> (data, st_mode); a name ending in '/' is a directory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


CODE = make_zip(
    {
        "app.py": (b"def handler(e, c):\n    return 1\n", stat.S_IFREG | 0o644),
        "pkg/": (b"", stat.S_IFDIR | 0o755),
        "pkg/mod.py": (b"X = 1\n", stat.S_IFREG | 0o600),
        "bin/run": (b"#!/bin/sh\necho hi\n", stat.S_IFREG | 0o755),
        "pkg/mod_link.py": (b"mod.py", stat.S_IFLNK | 0o777),
        "lib64": (b"pkg", stat.S_IFLNK | 0o777),
    }
)


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def test_put_is_content_addressed_and_idempotent(store: BlobStore, tmp_path: Path) -> None:
    blob = store.put(CODE)
    digest = hashlib.sha256(CODE).digest()
    assert blob == Blob(base64.b64encode(digest).decode(), digest.hex(), len(CODE))
    assert len(blob.sha256_b64) == 44 and blob.sha256_b64.endswith("=")
    path = store.path(blob.sha256_hex)
    assert path == tmp_path / "blobs" / "zips" / blob.sha256_hex[:2] / f"{blob.sha256_hex}.zip"
    before = path.stat()
    assert store.put(CODE) == blob
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert store.read(blob.sha256_hex) == CODE
    assert store.exists(blob.sha256_hex)
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_known_digest_of_empty_bytes(store: BlobStore) -> None:
    blob = store.put(b"")
    assert blob.sha256_b64 == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert blob.sha256_hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_rejects_non_digests(store: BlobStore) -> None:
    for bad in ("../../etc/passwd", "ABC", "e3b0" * 16 + "/", ""):
        with pytest.raises(ValueError):
            store.path(bad)
    assert not store.exists("0" * 64)


def test_unpacked_tree_is_read_only_and_keeps_exec_bits(store: BlobStore) -> None:
    blob = store.put(CODE)
    tree = store.unpacked(blob.sha256_hex)
    assert tree == store.root / "unpacked" / blob.sha256_hex
    assert (tree / "app.py").read_bytes() == b"def handler(e, c):\n    return 1\n"
    modes = {p.relative_to(tree).as_posix(): stat.S_IMODE(p.lstat().st_mode) for p in tree.rglob("*")}
    assert modes["app.py"] == 0o444
    assert modes["pkg/mod.py"] == 0o444
    assert modes["bin/run"] == 0o555
    assert modes["pkg"] == 0o555 and modes["bin"] == 0o555
    assert stat.S_IMODE(tree.stat().st_mode) == 0o555
    assert os.readlink(tree / "pkg" / "mod_link.py") == "mod.py"
    assert (tree / "pkg" / "mod_link.py").read_bytes() == b"X = 1\n"
    assert os.readlink(tree / "lib64") == "pkg"
    if os.geteuid() != 0:
        with pytest.raises(PermissionError):
            (tree / "app.py").write_text("changed")
        with pytest.raises(PermissionError):
            (tree / "new.py").write_text("x")


def test_unpacks_once(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = store.put(CODE)
    first = store.unpacked(blob.sha256_hex)
    before = (first.stat().st_ino, first.stat().st_mtime_ns, (first / "app.py").stat().st_ino)

    def boom(*args: object) -> None:
        raise AssertionError("extracted twice")

    monkeypatch.setattr(store, "_extract", boom)
    second = store.unpacked(blob.sha256_hex)
    assert second == first
    assert (second.stat().st_ino, second.stat().st_mtime_ns, (second / "app.py").stat().st_ino) == before


def test_concurrent_unpack_gives_one_tree(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    blob = store.put(CODE)
    calls = []
    real = store._extract

    def counting(source: Path, dest: Path) -> None:
        calls.append(dest)
        time.sleep(0.05)
        real(source, dest)

    monkeypatch.setattr(store, "_extract", counting)
    barrier = threading.Barrier(8)
    results: list[Path] = []

    def worker() -> None:
        barrier.wait()
        results.append(store.unpacked(blob.sha256_hex))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(results) == 8 and len(set(results)) == 1
    assert sorted(p.name for p in (store.root / "unpacked").iterdir()) == [blob.sha256_hex]


def test_delete_removes_zip_and_tree(store: BlobStore) -> None:
    blob = store.put(CODE)
    other = store.put(b"not even a zip")
    assert store.total_size() == len(CODE) + len(b"not even a zip")
    tree = store.unpacked(blob.sha256_hex)
    store.delete(blob.sha256_hex)
    assert not store.exists(blob.sha256_hex)
    assert not tree.exists()
    assert list((store.root / "unpacked").iterdir()) == []
    assert store.total_size() == len(b"not even a zip")
    store.delete(blob.sha256_hex)
    store.delete(other.sha256_hex)
    assert store.total_size() == 0


def test_missing_zip(store: BlobStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.unpacked("0" * 64)
    assert list((store.root / "unpacked").iterdir()) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"garbage", UNZIP, id="not a zip"),
        pytest.param(
            make_zip({"../escape.py": (b"x", stat.S_IFREG | 0o644)}),
            "Could not unzip uploaded file: entry '../escape.py' leaves the package directory.",
            id="traversal",
        ),
        pytest.param(
            make_zip({"evil": (b"/etc", stat.S_IFLNK | 0o777)}),
            "Could not unzip uploaded file: symbolic link 'evil' points to an absolute path ('/etc').",
            id="absolute link",
        ),
    ],
)
def test_unpack_rechecks_and_leaves_nothing(store: BlobStore, data: bytes, message: str) -> None:
    blob = store.put(data)
    with pytest.raises(InvalidParameterValueException) as exc:
        store.unpacked(blob.sha256_hex)
    assert exc.value.message == message
    assert list((store.root / "unpacked").iterdir()) == []


def _patch_central_size(data: bytes, size: int) -> bytes:
    """Make the central directory lie about the (single) member's uncompressed size."""
    at = data.index(b"PK\x01\x02") + 24
    return data[:at] + struct.pack("<I", size) + data[at + 4 :]


def test_lying_declared_size_is_caught_while_extracting(store: BlobStore) -> None:
    honest = make_zip({"big.bin": (os.urandom(100_000), stat.S_IFREG | 0o644)})
    blob = store.put(_patch_central_size(honest, 1000))
    with pytest.raises(InvalidParameterValueException) as exc:
        store.unpacked(blob.sha256_hex)
    assert exc.value.message in (
        UNZIP,
        "Could not unzip uploaded file: entry 'big.bin' is larger than it declares.",
    )
    assert list((store.root / "unpacked").iterdir()) == []


def test_unpack_enforces_the_unzipped_limit(tmp_path: Path) -> None:
    small = BlobStore(tmp_path / "blobs", max_unzipped=1000)
    blob = small.put(make_zip({"a.bin": (bytes(1000), stat.S_IFREG | 0o644)}))
    with pytest.raises(InvalidParameterValueException, match="Unzipped size must be smaller than 1000 bytes"):
        small.unpacked(blob.sha256_hex)
    assert archive.MAX_UNZIPPED == 262_144_000


def test_stale_leftovers_are_swept(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    BlobStore(root)
    old_tree = root / "unpacked" / ".tmp-dead-1"
    (old_tree / "sub").mkdir(parents=True)
    (old_tree / "sub" / "f").write_text("x")
    os.chmod(old_tree / "sub", 0o555)
    fresh_tree = root / "unpacked" / ".tmp-alive-2"
    fresh_tree.mkdir()
    (root / "zips" / "ab").mkdir()
    old_zip = root / "zips" / "ab" / ".tmp-dead-3"
    old_zip.write_bytes(b"partial")
    long_ago = time.time() - 2 * 3600
    for path in (old_tree, old_zip):
        os.utime(path, (long_ago, long_ago))
    BlobStore(root)
    assert not old_tree.exists() and not old_zip.exists()
    assert fresh_tree.exists()


class FakeRemote:
    """A cluster's shared bucket: a dict of digest -> bytes, counting calls."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.pulls: list[str] = []

    def push(self, sha_hex: str, path: Path) -> None:
        self.objects[sha_hex] = Path(path).read_bytes()

    def pull(self, sha_hex: str, dest: Path) -> bool:
        self.pulls.append(sha_hex)
        if sha_hex not in self.objects:
            return False
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        Path(dest).write_bytes(self.objects[sha_hex])
        return True


def test_put_pushes_to_the_remote_and_another_node_pulls_a_missing_digest_once(tmp_path: Path) -> None:
    remote = FakeRemote()
    front = BlobStore(tmp_path / "front", remote=remote)
    blob = front.put(CODE)
    assert remote.objects == {blob.sha256_hex: CODE}
    assert remote.pulls == []  # the writer never asks for what it has
    worker = BlobStore(tmp_path / "worker", remote=remote)
    tree = worker.unpacked(blob.sha256_hex)
    assert (tree / "app.py").read_bytes() == b"def handler(e, c):\n    return 1\n"
    assert worker.exists(blob.sha256_hex) and worker.read(blob.sha256_hex) == CODE
    assert remote.pulls == [blob.sha256_hex]  # cached on disk after the first pull


def test_a_digest_nobody_has_is_missing_and_asked_for_again_later(tmp_path: Path) -> None:
    remote = FakeRemote()
    worker = BlobStore(tmp_path / "worker", remote=remote)
    missing = hashlib.sha256(b"nothing").hexdigest()
    assert not worker.exists(missing)
    with pytest.raises(FileNotFoundError):
        worker.unpacked(missing)
    assert remote.pulls == [missing, missing]


def test_a_blob_stored_before_cluster_mode_is_pushed_when_put_again(tmp_path: Path) -> None:
    BlobStore(tmp_path / "front").put(CODE)
    remote = FakeRemote()
    BlobStore(tmp_path / "front", remote=remote).put(CODE)
    assert list(remote.objects.values()) == [CODE]
