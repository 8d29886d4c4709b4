"""Blueprints: sample functions to start from, each with its files, a default test event and the
triggers it expects; and the test-event templates of the common event sources.

Each blueprint is a directory beside this module: `blueprint.json` (title, description, runtime,
handler, triggers, event: a JSON document or the name of a template) and `files/` (the code as it
goes in the zip). Used by the console's Create function page and by `lamina init --blueprint`.
Imports nothing from lamina.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lamina.blueprints.templates import TEMPLATES

HERE = Path(__file__).parent
__all__ = ["TEMPLATES", "Blueprint", "all_blueprints", "get"]


@dataclass(frozen=True)
class Blueprint:
    name: str
    title: str
    description: str
    runtime: str
    handler: str
    triggers: tuple[dict, ...]
    event: dict
    directory: Path

    def files(self) -> dict[str, bytes]:
        """The code, path inside the zip → content, in name order."""
        root = self.directory / "files"
        return {p.relative_to(root).as_posix(): p.read_bytes()
                for p in sorted(root.rglob("*")) if p.is_file()}

    def zip(self) -> bytes:
        """The deployment package: the files with their modes (a custom runtime's bootstrap is 0755)."""
        buffer = io.BytesIO()
        root = self.directory / "files"
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in self.files().items():
                info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if os.access(root / name, os.X_OK) else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, content)
        return buffer.getvalue()

    def write_to(self, directory: Path) -> list[Path]:
        """Writes the files, `event.json` and `blueprint.json` into `directory` (which must not hold
        any of them yet); the paths written."""
        directory.mkdir(parents=True, exist_ok=True)
        targets = {**{name: data for name, data in self.files().items()},
                   "event.json": (json.dumps(self.event, indent=2) + "\n").encode(),
                   "blueprint.json": (self.directory / "blueprint.json").read_bytes()}
        clashes = [name for name in targets if (directory / name).exists()]
        if clashes:
            raise FileExistsError(f"{directory} already has {', '.join(clashes)}")
        written = []
        for name, data in targets.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            if os.access(self.directory / "files" / name, os.X_OK):
                path.chmod(0o755)
            written.append(path)
        return written


def _load(directory: Path) -> Blueprint:
    spec = json.loads((directory / "blueprint.json").read_text())
    event = spec["event"]
    return Blueprint(name=directory.name, title=spec["title"], description=spec["description"],
                     runtime=spec["runtime"], handler=spec["handler"], triggers=tuple(spec["triggers"]),
                     event=TEMPLATES[event]["event"] if isinstance(event, str) else event, directory=directory)


def all_blueprints() -> list[Blueprint]:
    return [_load(d) for d in sorted(HERE.iterdir()) if (d / "blueprint.json").is_file()]


def get(name: str) -> Blueprint | None:
    directory = HERE / name
    if "/" in name or name.startswith(".") or not (directory / "blueprint.json").is_file():
        return None
    return _load(directory)
