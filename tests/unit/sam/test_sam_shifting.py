"""lamina.sam.shifting: CodeDeploy's predefined Lambda deployment configs as traffic steps."""

from __future__ import annotations

import pytest

from lamina.sam.shifting import ShiftingError, steps

CASES = [
    ("CodeDeployDefault.LambdaAllAtOnce", [(100, 0)]),
    ("CodeDeployDefault.LambdaCanary10Percent5Minutes", [(10, 5), (100, 0)]),
    ("CodeDeployDefault.LambdaCanary10Percent30Minutes", [(10, 30), (100, 0)]),
    ("CodeDeployDefault.LambdaLinear10PercentEvery1Minute", [(p, 1) for p in range(10, 100, 10)] + [(100, 0)]),
    ("CodeDeployDefault.LambdaLinear10PercentEvery10Minutes", [(p, 10) for p in range(10, 100, 10)] + [(100, 0)]),
]


@pytest.mark.parametrize(("name", "expected"), CASES)
def test_steps(name, expected):
    assert steps(name) == expected


@pytest.mark.parametrize("name", ["MyCustomConfig", "CodeDeployDefault.LambdaSomething", ""])
def test_custom_configs_are_refused(name):
    with pytest.raises(ShiftingError, match="predefined Lambda deployment configs only"):
        steps(name)
