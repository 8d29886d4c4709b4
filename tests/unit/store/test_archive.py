"""Deployment zip checks: accepted archives, AWS's error texts, and the hostile-archive rules."""

from __future__ import annotations

import io
import stat
import warnings
import zipfile
from collections.abc import Callable

import pytest

from lamina.errors import InvalidParameterValueException, RequestEntityTooLargeException
from lamina.store import archive

UNZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."
MIB = 1 << 20


def member(name: str, data: bytes | str = b"", mode: int | None = None) -> tuple[str, bytes, int | None]:
    return name, data.encode() if isinstance(data, str) else data, mode


def link(name: str, target: str) -> tuple[str, bytes, int | None]:
    return name, target.encode(), stat.S_IFLNK | 0o777


def make_zip(*members: tuple[str, bytes, int | None], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are written on purpose
        with zipfile.ZipFile(buf, "w", compression) as zf:
            for name, data, mode in members:
                info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
                info.compress_type = compression
                info.create_system = 3
                if mode is not None:
                    info.external_attr = mode << 16
                elif name.endswith("/"):
                    info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                else:
                    info.external_attr = (stat.S_IFREG | 0o644) << 16
                zf.writestr(info, data)
    return buf.getvalue()


HANDLER = "def handler(event, context):\n    return event\n"
GOOD = make_zip(
    member("lambda_function.py", HANDLER),
    member("pkg/"),
    member("pkg/__init__.py"),
    member("pkg/data.txt", "x" * 100),
    member("bin/tool", "#!/bin/sh\n", stat.S_IFREG | 0o755),
)


def test_good_zip_reports_size_and_file_count() -> None:
    info = archive.check_zip(GOOD)
    assert info == archive.ZipInfo(unzipped_size=len(HANDLER) + 0 + 100 + 10, file_count=4)


def test_scan_marks_executables_and_normalises_paths() -> None:
    data = make_zip(
        member("./a//b.py", "x"), member("win\\mod.py", "y"), member("run", "z", stat.S_IFREG | 0o700)
    )
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        _, entries = archive.scan(zf, archive_size=len(data))
    assert [(e.path, e.kind, e.executable) for e in entries] == [
        ("a/b.py", "file", False),
        ("win/mod.py", "file", False),
        ("run", "file", True),
    ]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty bytes"),
        pytest.param(b"this is not a zip file at all", id="not a zip"),
        pytest.param(GOOD[: len(GOOD) // 2], id="truncated"),
        pytest.param(b"PK\x05\x06" + b"\xff" * 18, id="corrupt end record"),
    ],
)
def test_unreadable_archives_get_aws_text(data: bytes) -> None:
    with pytest.raises(InvalidParameterValueException) as exc:
        archive.check_zip(data)
    assert exc.value.message == UNZIP
    assert exc.value.status == 400


REJECTED = [
    ("traversal", [member("../x.py", "x")], "'../x.py' leaves the package directory"),
    ("nested traversal", [member("a/../../x.py", "x")], "leaves the package directory"),
    ("backslash traversal", [member("..\\x.py", "x")], "leaves the package directory"),
    ("absolute", [member("/etc/passwd", "x")], "'/etc/passwd' is an absolute path"),
    ("drive letter", [member("C:\\x.py", "x")], "is an absolute path"),
    ("unc path", [member("\\\\server\\share\\x", "x")], "is an absolute path"),
    ("link to absolute", [link("evil", "/etc/passwd")], "points to an absolute path"),
    ("link escaping", [link("a/evil", "../../etc")], "points outside the package directory"),
    ("link through link", [link("a/up", ".."), link("a/evil", "up/../x")], "through another symbolic link"),
    ("empty link", [link("evil", "")], "has an invalid target"),
    (
        "duplicate file",
        [member("a.py", "1"), member("a.py", "2")],
        "collides with another entry named 'a.py'",
    ),
    ("duplicate after normalising", [member("a.py", "1"), member("./a.py", "2")], "collides"),
    ("file then dir", [member("a", "1"), member("a/b", "2")], "collides with the file 'a'"),
    ("dir then file", [member("a/b", "1"), member("a", "2")], "collides with another entry named 'a'"),
    ("write through link", [link("l", "d"), member("l/x", "1")], "collides with the symlink 'l'"),
    ("fifo", [member("pipe", b"", stat.S_IFIFO | 0o644)], "is not a file, directory or symbolic link"),
    ("long name", [member("x" * 256, "1")], "has a name that is too long"),
]


@pytest.mark.parametrize(("members", "expected"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_hostile_entries_are_rejected(members: list[tuple[str, bytes, int | None]], expected: str) -> None:
    with pytest.raises(InvalidParameterValueException) as exc:
        archive.check_zip(make_zip(*members))
    assert exc.value.message.startswith("Could not unzip uploaded file: ")
    assert expected in exc.value.message


ACCEPTED_LINKS = [
    ("sibling", [member("lib/x.so", "elf"), link("lib64", "lib")]),
    ("up one level", [member("data.txt", "d"), link("pkg/data", "../data.txt")]),
    ("dot", [link("pkg/self", ".")]),
    (
        "link to link",
        [
            member("libfoo.so.1.2", "elf"),
            link("libfoo.so.1", "libfoo.so.1.2"),
            link("libfoo.so", "libfoo.so.1"),
        ],
    ),
    ("dangling inside", [link("pkg/later", "../missing")]),
]


@pytest.mark.parametrize("members", [r[1] for r in ACCEPTED_LINKS], ids=[r[0] for r in ACCEPTED_LINKS])
def test_links_inside_the_tree_are_accepted(members: list[tuple[str, bytes, int | None]]) -> None:
    data = make_zip(*members)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        _, entries = archive.scan(zf, archive_size=len(data))
    links = {e.path: e.target for e in entries if e.kind == "symlink"}
    assert links == {name: target.decode() for name, target, mode in members if mode and stat.S_ISLNK(mode)}


def test_repeated_directories_are_fine() -> None:
    info = archive.check_zip(make_zip(member("d/"), member("d/a", "1"), member("d/"), member("./d/b", "2")))
    assert info.file_count == 2


def test_bomb_by_entry_ratio() -> None:
    data = make_zip(member("zeros", bytes(4 * MIB)), compression=zipfile.ZIP_BZIP2)
    with pytest.raises(InvalidParameterValueException, match="entry 'zeros' unpacks to 4194304 bytes"):
        archive.check_zip(data)


def test_bomb_by_archive_ratio() -> None:
    data = make_zip(*(member(f"z{i}", bytes(MIB)) for i in range(40)), compression=zipfile.ZIP_BZIP2)
    with pytest.raises(InvalidParameterValueException, match="the archive would unpack to 41943040 bytes"):
        archive.check_zip(data)


def test_compressible_but_reasonable_file_passes() -> None:
    data = make_zip(member("text.txt", b"hello lambda " * 200_000))
    assert archive.check_zip(data).unzipped_size == 13 * 200_000


@pytest.mark.parametrize(
    ("max_unzipped", "extra", "ok"),
    [(1501, 500, True), (1500, 500, False), (1500, 0, True), (262_144_000, 262_143_000, False)],
)
def test_unzipped_limit_counts_extra_unzipped(max_unzipped: int, extra: int, ok: bool) -> None:
    data = make_zip(member("a.bin", bytes(range(250)) * 4))
    if ok:
        assert archive.check_zip(data, max_unzipped=max_unzipped, extra_unzipped=extra).unzipped_size == 1000
        return
    with pytest.raises(InvalidParameterValueException) as exc:
        archive.check_zip(data, max_unzipped=max_unzipped, extra_unzipped=extra)
    assert exc.value.message == f"Unzipped size must be smaller than {max_unzipped} bytes"


def test_default_unzipped_limit_text() -> None:
    with pytest.raises(InvalidParameterValueException) as exc:
        archive.check_zip(GOOD, extra_unzipped=262_144_000)
    assert exc.value.message == "Unzipped size must be smaller than 262144000 bytes"


def test_too_many_files() -> None:
    data = make_zip(*(member(f"f{i}", "x") for i in range(6)))
    assert archive.check_zip(data, max_entries=6).file_count == 6
    with pytest.raises(
        InvalidParameterValueException, match="the archive has 6 entries; at most 5 are allowed"
    ):
        archive.check_zip(data, max_entries=5)
    assert archive.MAX_ENTRIES == 100_000


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(lambda m: setattr(m, "filename", "a\x00b"), "NUL character", id="nul in name"),
        pytest.param(lambda m: setattr(m, "flag_bits", m.flag_bits | 1), "is encrypted", id="encrypted"),
        pytest.param(lambda m: setattr(m, "compress_type", 9), "unsupported compression", id="deflate64"),
    ],
)
def test_member_flags_zipfile_would_hide(mutate: Callable[[zipfile.ZipInfo], None], expected: str) -> None:
    with zipfile.ZipFile(io.BytesIO(GOOD)) as zf:
        mutate(zf.infolist()[0])
        with pytest.raises(InvalidParameterValueException, match=expected):
            archive.scan(zf, archive_size=len(GOOD))


def test_zipped_size_limit() -> None:
    archive.check_zipped_size(52_428_800)
    with pytest.raises(RequestEntityTooLargeException) as exc:
        archive.check_zipped_size(52_428_801)
    assert exc.value.message == "Zipped size must be smaller than 52428800 bytes"
    assert exc.value.status == 413
