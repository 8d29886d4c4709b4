"""lamina.console.report: the Test tab's execution summary read from the LogResult tail."""

import base64

import pytest

from lamina.console.report import decode_log, report_fields

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
