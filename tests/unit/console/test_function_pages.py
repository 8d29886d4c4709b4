"""lamina.console.function_pages' package helpers: the editor's files in and out of a zip."""

import io
import zipfile

import pytest

from lamina.console.packages import family, make_zip, read_zip, replace_files, starter, text_files


def test_replace_files_keeps_modes_and_other_files():
    original = make_zip({"bootstrap": b"#!/bin/sh\n", "lib/a.py": b"A = 1\n", "old.txt": b"x"},
                        {"bootstrap": 0o755, "lib/a.py": 0o644, "old.txt": 0o644})
    package = replace_files(original, {"lib/a.py": "A = 2\n", "new.py": "B = 1\n"}, ["old.txt"])
    files, modes = read_zip(package)
    assert files == {"bootstrap": b"#!/bin/sh\n", "lib/a.py": b"A = 2\n", "new.py": b"B = 1\n"}
    assert modes["bootstrap"] == 0o755 and modes["new.py"] == 0o644


def test_text_files_refuses_binary():
    assert text_files({"a.py": "é".encode()}) == {"a.py": "é"}
    assert text_files({"a.py": b"x", "lib.so": b"\xff\xfe\x00"}) is None


@pytest.mark.parametrize(("runtime", "kind", "handler", "entry"), [
    ("python3.12", "python", "lambda_function.lambda_handler", "lambda_function.py"),
    ("nodejs22.x", "nodejs", "index.handler", "index.mjs"),
    ("provided.al2023", "provided", "function.handler", "bootstrap"),
])
def test_starter(runtime, kind, handler, entry):
    assert family(runtime) == kind
    got_handler, package = starter(runtime)
    assert got_handler == handler
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        assert archive.namelist() == [entry]
