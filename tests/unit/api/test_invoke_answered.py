"""The lane's answers (lamina.api.invoke._answered): the usual ones are rendered as header lines at
once, and each must be the head `_response` gives the layered path, line for line; every other
outcome goes through `_response` itself."""

from __future__ import annotations

import pytest

from lamina.api.invoke import _answered, _response
from lamina.engine.spec import InvokeResult
from lamina.errors import ResourceNotFoundException
from lamina.invoke import Outcome


def result(**fields) -> InvokeResult:
    return InvokeResult(payload=b'{"ok":1}', executed_version="$LATEST", duration_ms=1.0, billed_ms=1, **fields)


def lines(headers: list[tuple[bytes, bytes]]) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


def answered(outcome: Outcome | None, error: BaseException | None = None):
    got: list = []
    _answered(got.append, "f", outcome, error)
    (answer,) = got
    return answer


@pytest.mark.parametrize("outcome", [
    Outcome(202, "r-accepted", executed_version="$LATEST"),
    Outcome(200, "r-ok", result=result(), executed_version="7"),
    Outcome(200, "r-unhandled", result=result(function_error="Unhandled"), executed_version="$LATEST"),
    Outcome(200, "r-handled", result=result(function_error="Handled"), executed_version="$LATEST"),
], ids=["event accepted", "result", "unhandled error", "handled error"])
def test_a_rendered_head_is_the_layered_paths_head(outcome):
    status, head, body = answered(outcome)
    expected_status, pairs, expected_body = _response(outcome).wire()
    assert isinstance(head, bytes)
    assert (status, head, body) == (expected_status, lines(pairs), expected_body)


def test_other_outcomes_and_errors_are_the_layered_paths_answers():
    tail = Outcome(200, "r-tail", result=result(log_tail="START\n"), executed_version="$LATEST")
    assert answered(tail) == _response(tail).wire()
    status, headers, body = answered(None, ResourceNotFoundException("Function not found: x"))
    assert status == 404 and b"ResourceNotFoundException" in dict(headers)[b"x-amzn-errortype"]
