"""lamina.profiler: request checks and the merge of per-environment speedscope documents (pure),
and the sampling loop with a fake sampler and process list."""

import asyncio
import json
import sys

import pytest

from lamina.errors import InvalidParameterValueException
from lamina.profiler import Profiler, Target, check_request, merge, sample_count


@pytest.mark.parametrize(("document", "expected"), [
    ({"FunctionName": "f"}, ("f", None, 5.0, 100)),
    ({"FunctionName": "f", "Qualifier": "live", "DurationSeconds": 60, "SampleRate": 1000}, ("f", "live", 60.0, 1000)),
    ({"FunctionName": "f", "DurationSeconds": 1.5}, ("f", None, 1.5, 100)),
])
def test_check_request(document, expected):
    assert check_request(document) == expected


@pytest.mark.parametrize("document", [
    None, [], {}, {"FunctionName": 3}, {"FunctionName": "f", "Qualifier": 1},
    {"FunctionName": "f", "DurationSeconds": 0}, {"FunctionName": "f", "DurationSeconds": 61},
    {"FunctionName": "f", "DurationSeconds": True}, {"FunctionName": "f", "SampleRate": 0},
    {"FunctionName": "f", "SampleRate": 2.5}, {"FunctionName": "f", "DurationSeconds": "5"},
])
def test_check_request_refuses(document):
    with pytest.raises(InvalidParameterValueException):
        check_request(document)


def _doc(frames, samples):
    return {"shared": {"frames": [{"name": n, "file": "app.py", "line": i} for i, n in frames]},
            "profiles": [{"type": "sampled", "name": "MainThread", "samples": samples, "weights": [1] * len(samples)}]}


def test_merge_shares_frames_and_names_profiles():
    one = _doc([(1, "handler"), (2, "spin")], [[0, 1], [0]])
    two = _doc([(2, "spin"), (1, "handler"), (3, "other")], [[1, 0], [2]])
    merged = merge("f:$LATEST", [("[1]a", one), ("[1]b", two)])
    names = [f["name"] for f in merged["shared"]["frames"]]
    assert names == ["handler", "spin", "other"]
    assert [p["name"] for p in merged["profiles"]] == ["[1]a MainThread", "[1]b MainThread"]
    assert merged["profiles"][1]["samples"] == [[0, 1], [2]]
    assert sample_count(merged) == 4
    assert merge("f", [])["profiles"] == []


def test_profile_samples_live_environments(tmp_path):
    """A fake py-spy (a script writing a speedscope file) stands for the real one."""
    fake = tmp_path / "py-spy"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nargs = sys.argv\n"
                    "out = args[args.index('--output') + 1]\n"
                    f"json.dump({json.dumps(_doc([(1, 'handler')], [[0], [0]]))}, open(out, 'w'))\n")
    fake.chmod(0o755)
    calls = []

    def processes(name, version):
        calls.append((name, version))
        return [("env1", "$LATEST", 4242)]

    profiler = Profiler(resolve=lambda name, q: Target(name, "$LATEST", "python3.12"), processes=processes,
                        sampler=str(fake))
    answer = asyncio.run(profiler.profile({"FunctionName": "f", "DurationSeconds": 1}))
    assert answer["Samples"] == 2 and calls[0] == ("f", None)
    assert answer["Environments"] == [{"Environment": "[$LATEST]env1", "Pid": 4242, "Samples": 2}]
    node = Profiler(resolve=lambda name, q: Target(name, "$LATEST", "nodejs22.x"), processes=processes,
                    sampler=str(fake))
    with pytest.raises(InvalidParameterValueException, match="Python runtimes only"):
        asyncio.run(node.profile({"FunctionName": "f", "DurationSeconds": 1}))
