"""Cost: GB-seconds, duration and request prices per architecture (reference section 8)."""

from __future__ import annotations

import pytest

from lamina.telemetry import cost


@pytest.mark.parametrize(("duration_ms", "billed"), [
    (0.0, 1), (0.2, 1), (1.0, 1), (1.01, 2), (170.19, 171), (300.0, 300), (2999.999, 3000),
])
def test_billed_duration_rounds_up_to_the_millisecond(duration_ms, billed):
    assert cost.billed_ms(duration_ms) == billed


@pytest.mark.parametrize(("billed_ms", "memory_mb", "gb_s"), [
    (1000, 1024, 1.0),
    (300, 512, 0.15),
    (1, 128, 0.000125),
    (171, 128, 0.021375),
    (900_000, 10_240, 9000.0),
    (0, 128, 0.0),
])
def test_gb_seconds_is_memory_in_gb_times_billed_seconds(billed_ms, memory_mb, gb_s):
    assert cost.gb_seconds(billed_ms, memory_mb) == pytest.approx(gb_s)


@pytest.mark.parametrize(("gb_s", "architecture", "dollars"), [
    (1.0, "x86_64", 0.0000166667),
    (1.0, "arm64", 0.0000133334),
    (150_000, "x86_64", 2.500005),  # reference 8's example: 512 MB × 300 ms × 1 M invocations
    (150_000, "arm64", 2.00001),
    (400_000, "x86_64", 6.66668),   # the free tier's worth, not subtracted
    (0.0, "arm64", 0.0),
])
def test_duration_cost_at_first_tier_prices(gb_s, architecture, dollars):
    assert cost.duration_cost(gb_s, architecture) == pytest.approx(dollars, rel=1e-9)


def test_an_unknown_architecture_has_no_price():
    with pytest.raises(ValueError, match="riscv"):
        cost.duration_cost(1.0, "riscv")


@pytest.mark.parametrize(("requests", "dollars"), [
    (0, 0.0), (1, 0.0000002), (1_000_000, 0.20), (5_000_000, 1.0), (1234, 0.0002468),
])
def test_request_cost_is_twenty_cents_per_million(requests, dollars):
    assert cost.request_cost(requests) == pytest.approx(dollars, rel=1e-9)


@pytest.mark.parametrize(("gb_s", "arm", "label"), [
    (1.0, 0.0, "x86_64"), (0.0, 0.0, "x86_64"), (2.0, 2.0, "arm64"), (3.0, 1.0, "x86_64+arm64"),
])
def test_architecture_label(gb_s, arm, label):
    assert cost.architecture_label(gb_s, arm) == label


def test_function_cost_splits_duration_by_architecture():
    entry = cost.function_cost("f", requests=1_000_000, gb_s=3.0, gb_s_arm64=1.0, billed_ms_sum=5000)
    assert entry["architecture"] == "x86_64+arm64"
    assert entry["duration_cost"] == pytest.approx(2 * 0.0000166667 + 0.0000133334)
    assert entry["request_cost"] == pytest.approx(0.20)
    assert entry["total"] == pytest.approx(entry["duration_cost"] + 0.20)
    assert (entry["requests"], entry["billed_ms"], entry["gb_seconds"]) == (1_000_000, 5000, 3.0)


def test_report_orders_by_total_and_adds_up():
    rows = [
        {"function": "cheap", "requests": 10, "gb_seconds": 0.5, "gb_seconds_arm64": 0.0, "billed_ms": 4000},
        {"function": "dear", "requests": 2_000_000, "gb_seconds": 150_000.0, "gb_seconds_arm64": 150_000.0,
         "billed_ms": 300_000_000},
    ]
    report = cost.report(rows, since=1_700_000_000)
    assert [entry["function"] for entry in report["functions"]] == ["dear", "cheap"]
    dear = report["functions"][0]
    assert dear["architecture"] == "arm64"
    assert dear["duration_cost"] == pytest.approx(2.00001)
    assert dear["request_cost"] == pytest.approx(0.40)
    totals = report["totals"]
    assert totals["requests"] == 2_000_010
    assert totals["billed_ms"] == 300_004_000
    assert totals["gb_seconds"] == pytest.approx(150_000.5)
    assert totals["duration_cost"] == pytest.approx(2.00001 + 0.5 * 0.0000166667)
    assert totals["request_cost"] == pytest.approx(0.400002)
    assert totals["total"] == pytest.approx(totals["duration_cost"] + totals["request_cost"])
    assert report["currency"] == "USD" and report["since"] == 1_700_000_000
    assert report["prices"]["per_gb_second"] == {"x86_64": 0.0000166667, "arm64": 0.0000133334}
    assert report["free_tier"]["requests"] == 1_000_000 and report["free_tier"]["gb_seconds"] == 400_000
    assert "not subtracted" in report["free_tier"]["note"]


def test_an_empty_report_has_zero_totals():
    report = cost.report([])
    assert report["functions"] == []
    assert report["totals"] == {"requests": 0, "billed_ms": 0, "gb_seconds": 0, "duration_cost": 0,
                                "request_cost": 0, "total": 0}
