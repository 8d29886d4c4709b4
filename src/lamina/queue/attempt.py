"""What one run of a queued event produced: the `Outcome` vocabulary and the `Attempt` record.

Pure records, shared by the code that runs events (invoke.py) and the queue's policy and
worker. Imports nothing from lamina.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FUNCTION_ERROR = "function_error"  # the function ran and failed (counts as a run)
    THROTTLE = "throttle"  # no concurrency free right now
    SYSTEM_ERROR = "system_error"  # lamina could not run it this time (e.g. the function is updating)
    ZERO_CONCURRENCY = "zero_concurrency"  # reserved concurrency 0: it can never run while that holds
    GONE = "gone"  # the function no longer exists


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    function_arn: str = ""  # qualified ARN of the version that ran
    executed_version: str | None = None
    function_error: str | None = None
    response: bytes | None = None
