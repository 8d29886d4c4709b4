"""`lamina build` on a real SAM template: wheels for Lambda's platform without Docker, reproducible zips,
the build cache, and a built package that deploys and runs its C extension on a real lamina.

The pip installs reach PyPI (the one network CI has)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import zipfile

import pytest

from support import ROLE

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"  # the C extension must load on this host
TEMPLATE = textwrap.dedent(f"""\
    AWSTemplateFormatVersion: 2010-09-09
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Arch:
        Type: String
        Default: x86_64
    Globals:
      Function:
        Runtime: {RUNTIME}
        Handler: app.handler
    Resources:
      Escaper:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: escaper/
          Architectures: [!Ref Arch]
      Plain:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: plain/
      Inline:
        Type: AWS::Serverless::Function
        Properties:
          InlineCode: "def handler(e, c): return 1"
      Shared:
        Type: AWS::Serverless::LayerVersion
        Properties:
          ContentUri: shared/
        Metadata:
          BuildMethod: {RUNTIME}
    """)
ESCAPER = textwrap.dedent("""\
    import markupsafe
    from markupsafe import _speedups  # the C extension: an ImportError if the wheel is not this platform's

    def handler(event, context):
        return {"escaped": str(markupsafe.escape(event["text"])), "native": _speedups.__file__.endswith(".so")}
    """)


def lamina_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "lamina.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("sam")
    (root / "template.yaml").write_text(TEMPLATE)
    (root / "escaper").mkdir()
    (root / "escaper" / "app.py").write_text(ESCAPER)
    (root / "escaper" / "requirements.txt").write_text("markupsafe==3.0.2\n")
    (root / "plain").mkdir()
    (root / "plain" / "app.py").write_text("def handler(event, context):\n    return 'plain'\n")
    (root / "shared").mkdir()
    (root / "shared" / "helpers.py").write_text("VALUE = 1\n")
    return root


@pytest.fixture(scope="module")
def built(project):
    out = lamina_cli("build", cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads((project / ".lamina" / "build" / "build.json").read_text())["artifacts"], out.stdout


def names(path):
    return zipfile.ZipFile(path).namelist()


def test_builds_every_local_artifact_and_says_what_it_skips(built):
    artifacts, output = built
    assert sorted(artifacts) == ["Escaper", "Plain", "Shared"]
    assert "skipped Inline" in output and "Escaper" in output
    escaper = names(artifacts["Escaper"]["zip_path"])
    assert "app.py" in escaper
    native = [n for n in escaper if n.startswith("markupsafe/_speedups") and n.endswith(".so")]
    assert native and "x86_64-linux-gnu" in native[0], escaper  # the manylinux wheel's C extension
    assert names(artifacts["Shared"]["zip_path"]) == ["python/helpers.py"]  # a Python layer's layout


def test_unchanged_inputs_give_the_same_code_sha_from_the_cache(project, built):
    artifacts, _ = built
    again = lamina_cli("build", cwd=project)
    assert again.returncode == 0, again.stderr
    rebuilt = json.loads((project / ".lamina" / "build" / "build.json").read_text())["artifacts"]
    assert {k: v["code_sha256"] for k, v in rebuilt.items()} == {k: v["code_sha256"] for k, v in artifacts.items()}
    assert all(v["cached"] for v in rebuilt.values())
    app = project / "plain" / "app.py"
    original = app.read_text()
    app.write_text(original.replace("'plain'", "'changed'"))
    try:
        changed = lamina_cli("build", cwd=project)
        manifest = json.loads((project / ".lamina" / "build" / "build.json").read_text())["artifacts"]
        assert changed.returncode == 0
        assert manifest["Plain"]["code_sha256"] != artifacts["Plain"]["code_sha256"]
        assert manifest["Escaper"]["code_sha256"] == artifacts["Escaper"]["code_sha256"]
    finally:
        app.write_text(original)


def test_arm64_gets_arm_wheels(project, tmp_path):
    out = lamina_cli("build", "--parameter-overrides", "Arch=arm64", "--build-dir", str(tmp_path), cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    escaper = names(tmp_path / "Escaper.zip")
    assert any(n.startswith("markupsafe/_speedups") and "aarch64" in n for n in escaper), escaper


def test_the_built_package_runs_its_c_extension(lam, built):
    artifacts, _ = built
    with open(artifacts["Escaper"]["zip_path"], "rb") as f:
        data = f.read()
    created = lam.create_function(FunctionName="sam-escaper", Runtime=RUNTIME, Handler="app.handler", Role=ROLE,
                                  Code={"ZipFile": data})
    assert created["CodeSha256"] == artifacts["Escaper"]["code_sha256"]
    lam.get_waiter("function_active_v2").wait(FunctionName="sam-escaper")
    out = lam.invoke(FunctionName="sam-escaper", Payload=json.dumps({"text": "<b>&</b>"}))
    assert "FunctionError" not in out, out["Payload"].read()
    assert json.loads(out["Payload"].read()) == {"escaped": "&lt;b&gt;&amp;&lt;/b&gt;", "native": True}


def test_a_dependency_without_a_wheel_fails_the_build_naming_it(project, tmp_path):
    (project / "escaper" / "requirements.txt").write_text("lamina-no-such-package-xyz==1.0\n")
    try:
        out = lamina_cli("build", "--build-dir", str(tmp_path), cwd=project)
    finally:
        (project / "escaper" / "requirements.txt").write_text("markupsafe==3.0.2\n")
    assert out.returncode == 1
    assert "lamina-no-such-package-xyz==1.0 has no binary wheel" in " ".join((out.stdout + out.stderr).split())


BAD_TEMPLATES = [
    ("Resources:\n  A: [broken\n", "template.yaml:3:1"),
    ("Resources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: !Bogus x\n",
     "template.yaml:5:16: unknown tag !Bogus"),
    ("Resources:\n  A:\n    Type: AWS::Serverless::Function\n    Properties:\n      Runtime: python3.12\n",
     "Resources.A.Properties.CodeUri: missing"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TEMPLATES)
def test_bad_templates_say_where_and_build_nothing(tmp_path, text, message):
    (tmp_path / "template.yaml").write_text(text)
    out = lamina_cli("build", cwd=tmp_path)
    assert out.returncode == 1
    assert message in " ".join((out.stdout + out.stderr).split())
    assert not (tmp_path / ".lamina").exists()


def test_zip_is_a_valid_lambda_package(built):
    artifacts, _ = built
    data = open(artifacts["Plain"]["zip_path"], "rb").read()
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("app.py")
    assert info.date_time == (1980, 1, 1, 0, 0, 0) and (info.external_attr >> 16) & 0o777 == 0o644
