"""The deployment package the console's Code tab edits: starter packages for a function authored from
scratch (per runtime family), reading a zip's files and modes, and writing the edited package back,
modes kept. Pure; imports nothing from lamina.
"""

from __future__ import annotations

import io
import zipfile

EDITABLE_LIMIT = 3 * 1024 * 1024  # zips larger than this are replaced by upload, not edited in the browser
LANGUAGES = {".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".json": "json",
             ".ts": "javascript"}
STARTERS = {
    "python": ("lambda_function.lambda_handler", {"lambda_function.py": (
        "import json\n\n\ndef lambda_handler(event, context):\n"
        "    return {\"statusCode\": 200, \"body\": json.dumps(\"Hello from Lambda!\")}\n")}),
    "nodejs": ("index.handler", {"index.mjs": (
        "export const handler = async (event) => {\n"
        "  return { statusCode: 200, body: JSON.stringify(\"Hello from Lambda!\") };\n};\n")}),
    "provided": ("function.handler", {"bootstrap": (
        "#!/bin/sh\nset -eu\nwhile true; do\n  HEADERS=\"$(mktemp)\"\n"
        "  EVENT=$(curl -sS -LD \"$HEADERS\" \"http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next\")\n"
        "  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id \"$HEADERS\" | tr -d '[:space:]' | cut -d: -f2)\n"
        "  curl -sS -X POST \"http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$ID/response\" "
        "-d \"$EVENT\" >/dev/null\ndone\n")}),
}


def family(runtime: str) -> str:
    return "python" if runtime.startswith("python") else "nodejs" if runtime.startswith("nodejs") else "provided"


def make_zip(files: dict[str, bytes], modes: dict[str, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            default = 0o755 if name == "bootstrap" else 0o644
            info.external_attr = ((modes or {}).get(name) or default) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def starter(runtime: str) -> tuple[str, bytes]:
    """The handler and zip of a function authored from scratch on `runtime`."""
    handler, files = STARTERS[family(runtime)]
    return handler, make_zip({name: text.encode() for name, text in files.items()})


def read_zip(data: bytes) -> tuple[dict[str, bytes], dict[str, int]]:
    """The files of a zip and their modes (directories skipped)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
        modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()}
    return files, modes


def text_files(files: dict[str, bytes]) -> dict[str, str] | None:
    """The files as text when every one is UTF-8 (an editable package), else None."""
    try:
        return {name: data.decode("utf-8") for name, data in files.items()}
    except UnicodeDecodeError:
        return None


def replace_files(original: bytes, edited: dict[str, str], deleted: list[str]) -> bytes:
    """The package with `edited` files written (new ones added) and `deleted` ones removed, modes kept."""
    files, modes = read_zip(original)
    for name in deleted:
        files.pop(name, None)
    for name, text in edited.items():
        files[name] = text.encode()
    return make_zip(files, modes)
