"""Gradual alias shifting (SAM `DeploymentPreference`): the steps of a CodeDeploy Lambda deployment config.

Pure. `steps(config_name)` turns a predefined configuration (`CodeDeployDefault.LambdaCanary10Percent5Minutes`,
`...LambdaLinear10PercentEvery1Minute`, `...LambdaAllAtOnce`) into the traffic steps CodeDeploy takes:
(percent of traffic on the new version, minutes to hold it), the last step always 100 %. Custom deployment
configs are CodeDeploy resources lamina does not run: `ShiftingError` says so. Imports nothing from lamina.
"""

from __future__ import annotations

import re

PREFIX = "CodeDeployDefault.Lambda"
_CANARY = re.compile(r"Canary(\d+)Percent(\d+)Minutes?")
_LINEAR = re.compile(r"Linear(\d+)PercentEvery(\d+)Minutes?")


class ShiftingError(ValueError):
    """A deployment config lamina cannot run."""


def steps(config_name: str) -> list[tuple[int, int]]:
    """[(percent on the new version, minutes held)], ending with (100, 0)."""
    name = config_name[len(PREFIX):] if config_name.startswith(PREFIX) else None
    if name == "AllAtOnce":
        return [(100, 0)]
    canary = _CANARY.fullmatch(name or "")
    if canary:
        percent, minutes = int(canary[1]), int(canary[2])
        return [(percent, minutes), (100, 0)]
    linear = _LINEAR.fullmatch(name or "")
    if linear:
        percent, minutes = int(linear[1]), int(linear[2])
        held = [(p, minutes) for p in range(percent, 100, percent)]
        return [*held, (100, 0)]
    raise ShiftingError(f"lamina runs CodeDeploy's predefined Lambda deployment configs only "
                        f"(Canary…, Linear…, AllAtOnce), not {config_name}")
