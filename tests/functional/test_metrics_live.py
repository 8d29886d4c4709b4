"""Metrics and cost of a real `lamina serve` after real invocations."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

import pytest
from botocore.exceptions import ClientError

from support import ROLE, make_zip

APP = "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError('no')\n    return 1\n"


def sample(text: str, name: str, function: str) -> float:
    pattern = re.compile(rf'^{name}\{{[^}}]*function="{function}"[^}}]*\}} (\S+)$', re.M)
    return sum(float(value) for value in pattern.findall(text))


def test_metrics_count_invocations_errors_and_throttles(lam, lamina):
    lam.create_function(FunctionName="measured", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": APP})})
    lam.get_waiter("function_active_v2").wait(FunctionName="measured")
    for payload in (b"{}", b"{}", b"{}", b'{"fail": true}'):
        lam.invoke(FunctionName="measured", Payload=payload)
    lam.put_function_concurrency(FunctionName="measured", ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError):
        lam.invoke(FunctionName="measured", Payload=b"{}")
    lam.delete_function_concurrency(FunctionName="measured")

    text = urllib.request.urlopen(lamina.url + "/metrics").read().decode()
    assert sample(text, "lamina_invocations_total", "measured") == 4
    assert sample(text, "lamina_errors_total", "measured") == 1
    assert sample(text, "lamina_throttles_total", "measured") == 1
    assert sample(text, "lamina_duration_seconds_count", "measured") == 4

    series = json.loads(urllib.request.urlopen(lamina.url + "/system/metrics?function=measured&minutes=5").read())
    assert sum(minute["invocations"] for minute in series["series"]) == 4
    assert sum(minute["errors"] for minute in series["series"]) == 1

    cost = json.loads(urllib.request.urlopen(lamina.url + "/system/cost").read())
    mine = [f for f in cost["functions"] if f["function"] == "measured"]
    assert mine and mine[0]["requests"] == 4 and mine[0]["gb_seconds"] > 0

    out = subprocess.run([sys.executable, "-m", "lamina.cli", "cost", "--endpoint", lamina.url],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "measured" in out.stdout
