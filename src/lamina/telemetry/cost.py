"""What invocations would cost on AWS Lambda: GB-seconds and list prices (reference section 8).

Pure functions over numbers, no state. Prices are US East (N. Virginia) first-tier list prices;
the free tier is reported alongside, never subtracted. Imports nothing from lamina.
"""

from __future__ import annotations

import math

CURRENCY = "USD"
# Duration, first tier, per GB-second (x86_64: first 6 B GB-s a month; arm64: first 7.5 B).
PRICE_PER_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_PER_REQUEST = 0.20 / 1_000_000
FREE_TIER_REQUESTS = 1_000_000  # per account and month, shared by both architectures
FREE_TIER_GB_SECONDS = 400_000
PRICE_SOURCE = "aws.amazon.com/lambda/pricing, us-east-1, first tier"
DIGITS = 12  # dollars are rounded to this many decimals, which hides float noise and nothing else


def billed_ms(duration_ms: float) -> int:
    """Billed duration: rounded up to the next millisecond (1 ms granularity), at least 1 ms."""
    return max(1, math.ceil(duration_ms - 1e-9))


def gb_seconds(billed: float, memory_mb: int) -> float:
    """Configured memory in GB (MB / 1024) times billed seconds."""
    return memory_mb / 1024.0 * billed / 1000.0


def duration_cost(gb_s: float, architecture: str) -> float:
    """Dollars for `gb_s` GB-seconds on `architecture` ("x86_64" or "arm64") at the first-tier price."""
    try:
        price = PRICE_PER_GB_SECOND[architecture]
    except KeyError:
        raise ValueError(f"no price for the architecture {architecture!r}") from None
    return round(gb_s * price, DIGITS)


def request_cost(requests: int) -> float:
    """Dollars for `requests` requests ($0.20 per million, both architectures)."""
    return round(requests * PRICE_PER_REQUEST, DIGITS)


def architecture_label(gb_s: float, gb_s_arm64: float) -> str:
    """x86_64, arm64, or both when a function ran on each (its architecture changed)."""
    if gb_s_arm64 <= 0:
        return "x86_64"
    if gb_s - gb_s_arm64 <= 1e-12:
        return "arm64"
    return "x86_64+arm64"


def function_cost(function: str, *, requests: int, gb_s: float, gb_s_arm64: float = 0.0,
                  billed_ms_sum: int = 0) -> dict:
    """A function's estimate; `gb_s` is its total, `gb_s_arm64` the part run on arm64."""
    x86 = max(0.0, gb_s - gb_s_arm64)
    duration = round(duration_cost(x86, "x86_64") + duration_cost(gb_s_arm64, "arm64"), DIGITS)
    requested = request_cost(requests)
    return {
        "function": function,
        "architecture": architecture_label(gb_s, gb_s_arm64),
        "requests": requests,
        "billed_ms": billed_ms_sum,
        "gb_seconds": round(gb_s, DIGITS),
        "duration_cost": duration,
        "request_cost": requested,
        "total": round(duration + requested, DIGITS),
    }


def report(rows: list[dict], *, since: float | None = None) -> dict:
    """The cost report of per-function totals (dicts with function, requests, gb_seconds,
    gb_seconds_arm64, billed_ms): one entry per function, most expensive first, plus totals."""
    functions = [function_cost(row["function"], requests=int(row["requests"]), gb_s=float(row["gb_seconds"]),
                               gb_s_arm64=float(row.get("gb_seconds_arm64") or 0.0),
                               billed_ms_sum=int(row.get("billed_ms") or 0)) for row in rows]
    functions.sort(key=lambda entry: (-entry["total"], entry["function"]))
    totals = {
        "requests": sum(entry["requests"] for entry in functions),
        "billed_ms": sum(entry["billed_ms"] for entry in functions),
        "gb_seconds": round(sum(entry["gb_seconds"] for entry in functions), DIGITS),
        "duration_cost": round(sum(entry["duration_cost"] for entry in functions), DIGITS),
        "request_cost": round(sum(entry["request_cost"] for entry in functions), DIGITS),
    }
    totals["total"] = round(totals["duration_cost"] + totals["request_cost"], DIGITS)
    return {
        "currency": CURRENCY,
        "since": since,
        "prices": {"per_gb_second": dict(PRICE_PER_GB_SECOND), "per_request": PRICE_PER_REQUEST,
                   "source": PRICE_SOURCE},
        "free_tier": {"requests": FREE_TIER_REQUESTS, "gb_seconds": FREE_TIER_GB_SECONDS,
                      "note": "AWS's monthly free tier (1M requests, 400,000 GB-s) is not subtracted."},
        "functions": functions,
        "totals": totals,
    }
