"""lamina.blueprints: every blueprint loads, zips with its modes and writes itself into a directory."""

import io
import json
import zipfile

import pytest

from lamina import blueprints
from lamina.blueprints import TEMPLATES

NAMES = ["custom-runtime-shell", "hello-world-nodejs", "hello-world-python", "http-api-python",
         "s3-object-processor-python", "scheduled-job-python", "sqs-consumer-python", "stream-processor-python"]


def test_all_blueprints():
    assert [b.name for b in blueprints.all_blueprints()] == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_blueprint_package(name, tmp_path):
    blueprint = blueprints.get(name)
    assert blueprint is not None and blueprint.title and blueprint.description
    assert isinstance(blueprint.event, dict) and blueprint.event
    module = blueprint.handler.split(".")[0]
    with zipfile.ZipFile(io.BytesIO(blueprint.zip())) as archive:
        names = archive.namelist()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in archive.infolist()}
    if blueprint.runtime.startswith("provided"):
        assert modes["bootstrap"] == 0o755
    else:
        assert any(n.rsplit(".", 1)[0] == module for n in names)
    written = blueprint.write_to(tmp_path / "fn")
    assert {p.name for p in written} >= {"event.json", "blueprint.json"}
    assert json.loads((tmp_path / "fn" / "event.json").read_text()) == blueprint.event
    with pytest.raises(FileExistsError):
        blueprint.write_to(tmp_path / "fn")


@pytest.mark.parametrize("name", ["", "nope", "../console", ".hidden", "a/b"])
def test_unknown_blueprint(name):
    assert blueprints.get(name) is None


def test_templates_cover_the_common_sources():
    assert {"function-url", "sqs", "s3", "kinesis", "dynamodb", "schedule"} <= set(TEMPLATES)
    for template in TEMPLATES.values():
        json.dumps(template["event"])
