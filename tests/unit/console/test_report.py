"""lamina.console.report: the Test tab's execution summary read from the LogResult tail."""

import base64

import pytest

from lamina.console.report import decode_log, duration_percentiles, milliseconds, report_fields

REPORT = ("REPORT RequestId: 8f5a2e1c-0d1b-4c4e-9a55-1f0e6d2c7b3a\tDuration: 1.23 ms\tBilled Duration: 2 ms\t"
          "Memory Size: 128 MB\tMax Memory Used: 38 MB\tInit Duration: 120.45 ms\t")


@pytest.mark.parametrize(("log", "expected"), [
    ("", {}),
    ("START RequestId: x Version: $LATEST\nhello\n", {}),
    (f"START RequestId: x\nEND RequestId: x\n{REPORT}\n", {
        "RequestId": "8f5a2e1c-0d1b-4c4e-9a55-1f0e6d2c7b3a", "Duration": "1.23 ms", "Billed Duration": "2 ms",
        "Memory Size": "128 MB", "Max Memory Used": "38 MB", "Init Duration": "120.45 ms"}),
    # a warm invoke has no Init Duration; the last REPORT line wins
    ("REPORT RequestId: a\tDuration: 9.00 ms\t\nREPORT RequestId: b\tDuration: 3.10 ms\tBilled Duration: 4 ms\t",
     {"RequestId": "b", "Duration": "3.10 ms", "Billed Duration": "4 ms"}),
    ("REPORT RequestId: c\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\t"
     "Max Memory Used: 40 MB\tStatus: timeout",
     {"RequestId": "c", "Duration": "3000.00 ms", "Billed Duration": "3000 ms", "Memory Size": "128 MB",
      "Max Memory Used": "40 MB", "Status": "timeout"}),
])
def test_report_fields(log, expected):
    assert report_fields(log) == expected


@pytest.mark.parametrize(("log_result", "expected"), [
    (None, ""), ("", ""), ("%%%not base64", ""),
    (base64.b64encode("héllo\n".encode()).decode(), "héllo\n"),
])
def test_decode_log(log_result, expected):
    assert decode_log(log_result) == expected


def _report(ms: float) -> str:
    return f"REPORT RequestId: r\tDuration: {ms:.2f} ms\tBilled Duration: {int(ms) + 1} ms\t"


def test_duration_percentiles():
    events = [{"timestamp": 120_000 + i * 100, "message": _report(float(i + 1))} for i in range(100)]
    events += [{"timestamp": 180_500, "message": _report(7.0)}, {"timestamp": 180_600, "message": "hello"},
               {"timestamp": 180_700, "message": "REPORT RequestId: x\tDuration: n/a\t"}]
    assert duration_percentiles(events) == {
        120: {"p50": 51.0, "p99": 99.0, "count": 100},
        180: {"p50": 7.0, "p99": 7.0, "count": 1},
    }
    assert duration_percentiles([]) == {}


@pytest.mark.parametrize(("text", "expected"), [("1.23 ms", 1.23), ("2 ms", 2.0), ("128 MB", None), ("x ms", None),
                                                ("", None)])
def test_milliseconds(text, expected):
    assert milliseconds(text) == expected
