"""Table tests of lamina.schedule_expression: AWS's accepted and refused expressions, and next-fire minutes."""

from __future__ import annotations

import datetime as dt

import pytest

from lamina.schedule_expression import Cron, InvalidSchedule, Rate, datetime_of, minute_of, parse


def m(text: str) -> int:
    return minute_of(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC))


def iso(minute: int) -> str:
    return datetime_of(minute).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("text", [
    # Rejected by AWS (reference 3.4).
    "rate(10 seconds)", "rate(10 years)", "rate(1 minutes)", "rate(1 hours)", "rate(1 days)", "rate(10 minute)",
    "rate(10 hour)", "rate(10 day)", "rate()", "rate(10)", "rate(10 minutess)", "rate(foo minutes)",
    "rate(0 minutes)", "rate(-10 minutes)", "rate(10 MINUTES)", "rate( 10 minutes )", " rate(10 minutes)",
    "rate(10  minutes)", "Rate(10 minutes)", "rate(10 minutes) ", "",
    # cron: field count, ?, ranges, names, wildcards in the wrong field.
    "cron(0 1 * * * *)", "cron(0 1 ? * ? *)", "cron(* * * * *)", "cron(0 1 * * ? * 1)", "cron(0  1 * * ? *)",
    "cron(71 * * * ? *)", "cron(0 24 * * ? *)", "cron(0 0 32 * ? *)", "cron(0 0 0 * ? *)", "cron(0 0 * 13 ? *)",
    "cron(0 0 ? * 8 *)", "cron(0 0 ? * 0 *)", "cron(0 0 * * ? 1969)", "cron(0 0 * * ? 2200)",
    "cron(NOT 0 * * ? *)", "cron(0 0 * FOO ? *)", "cron(0 0 ? * MOO *)", "cron(L 0 * * ? *)", "cron(0 0 * L ? *)",
    "cron(0 0 ? * 3#2,5 *)", "cron(0 0 ? * 3#6 *)", "cron(0 0 ? * 8#1 *)", "cron(0 0 1W,15 * ? *)",
    "cron(0 0 ? * 3W *)", "cron(0 0 L#2 * ? *)", "cron(0/0 * * * ? *)", "cron(0/75 * * * ? *)",
    "cron(0 0 1,? * ? *)", "cron(0 0 * * ?,1 *)", "cron(0 0 * * ? *", "cron()", "cron(0 0 * * ? *) ",
    "cron(a-b * * * ? *)", "cron(1- * * * ? *)", "cron(0 0 32W * ? *)",
])
def test_refused(text):
    with pytest.raises(InvalidSchedule):
        parse(text)


@pytest.mark.parametrize("text, expected", [
    ("rate(1 minute)", Rate(1)), ("rate(5 minutes)", Rate(5)), ("rate(1 hour)", Rate(60)),
    ("rate(2 hours)", Rate(120)), ("rate(1 day)", Rate(1440)), ("rate(7 days)", Rate(10080)),
])
def test_rates(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", [
    "cron(0 10 * * ? *)", "cron(15 12 * * ? *)", "cron(0 18 ? * MON-FRI *)", "cron(0 8 1 * ? *)",
    "cron(0/15 * * * ? *)", "cron(0/10 * ? * MON-FRI *)", "cron(0/5 8-17 ? * MON-FRI *)", "cron(0 9 ? * 2#1 *)",
    "cron(*/5 * * * ? *)", "cron(0 0 L * ? *)", "cron(0 0 LW * ? *)", "cron(0 0 15W * ? *)", "cron(0 0 ? * 6L *)",
    "cron(0 0 ? * L *)", "cron(0 0 1 JAN,jul ? 2030-2040)", "cron(0 0 ? * FRI-MON *)", "cron(10-50/20 * * * ? *)",
    "cron(0 0 1,15 * ? *)", "cron(0 0 * * ? */2)",
])
def test_accepted(text):
    assert isinstance(parse(text), Cron)


# (expression, now, the next minutes it fires)
NEXT = [
    ("cron(0 10 * * ? *)", "2026-03-01T09:59", ["2026-03-01T10:00", "2026-03-02T10:00"]),
    ("cron(0 10 * * ? *)", "2026-03-01T10:00", ["2026-03-02T10:00", "2026-03-03T10:00"]),
    ("cron(15 12 * * ? *)", "2026-12-31T12:15", ["2027-01-01T12:15"]),
    ("cron(0/15 * * * ? *)", "2026-03-01T09:50", ["2026-03-01T10:00", "2026-03-01T10:15", "2026-03-01T10:30"]),
    ("cron(*/20 * * * ? *)", "2026-03-01T09:50", ["2026-03-01T10:00", "2026-03-01T10:20", "2026-03-01T10:40"]),
    ("cron(10-50/20 * * * ? *)", "2026-03-01T09:50", ["2026-03-01T10:10", "2026-03-01T10:30", "2026-03-01T10:50"]),
    ("cron(5,7 1 * * ? *)", "2026-03-01T01:05", ["2026-03-01T01:07", "2026-03-02T01:05"]),
    # Friday 2026-03-06 → MON-FRI skips the weekend.
    ("cron(0 18 ? * MON-FRI *)", "2026-03-06T18:00", ["2026-03-09T18:00", "2026-03-10T18:00"]),
    ("cron(0 0 ? * FRI-MON *)", "2026-03-03T00:00", ["2026-03-06T00:00", "2026-03-07T00:00", "2026-03-08T00:00",
                                                     "2026-03-09T00:00", "2026-03-13T00:00"]),
    ("cron(0 0 ? * 1 *)", "2026-03-01T00:00", ["2026-03-08T00:00"]),  # 1 = Sunday
    ("cron(0 0 ? * SUN *)", "2026-02-28T23:59", ["2026-03-01T00:00"]),
    # Last day of the month, leap years included.
    ("cron(0 0 L * ? *)", "2028-01-31T00:00", ["2028-02-29T00:00", "2028-03-31T00:00", "2028-04-30T00:00"]),
    ("cron(0 0 L 2 ? *)", "2026-01-01T00:00", ["2026-02-28T00:00", "2027-02-28T00:00", "2028-02-29T00:00"]),
    # 31st only in months that have one.
    ("cron(0 0 31 * ? *)", "2026-03-31T00:00", ["2026-05-31T00:00", "2026-07-31T00:00"]),
    # W: 2026-02-01 is a Sunday → Monday 2nd; 2026-08-01 is a Saturday → Monday 3rd (stays in the month).
    ("cron(0 0 1W * ? *)", "2026-01-31T00:00", ["2026-02-02T00:00", "2026-03-02T00:00"]),
    ("cron(0 0 1W 8 ? *)", "2026-01-01T00:00", ["2026-08-03T00:00"]),
    # 15W: 2026-03-15 is a Sunday → Monday 16; 2026-08-15 is a Saturday → Friday 14.
    ("cron(0 0 15W 3,8 ? *)", "2026-01-01T00:00", ["2026-03-16T00:00", "2026-08-14T00:00"]),
    # LW: last weekday; 2026-05-31 is a Sunday → Friday 29.
    ("cron(0 0 LW 5 ? *)", "2026-01-01T00:00", ["2026-05-29T00:00"]),
    # #: 2nd Tuesday; 1st Monday.
    ("cron(0 9 ? * 3#2 *)", "2026-03-01T00:00", ["2026-03-10T09:00", "2026-04-14T09:00"]),
    ("cron(0 9 ? * MON#1 *)", "2026-03-01T00:00", ["2026-03-02T09:00", "2026-04-06T09:00"]),
    ("cron(0 9 ? * 6#5 *)", "2026-01-01T00:00", ["2026-01-30T09:00", "2026-05-29T09:00"]),
    # L in day-of-week: Saturday; 6L = last Friday of the month.
    ("cron(0 0 ? * L *)", "2026-03-01T00:00", ["2026-03-07T00:00", "2026-03-14T00:00"]),
    ("cron(0 0 ? * 6L *)", "2026-03-01T00:00", ["2026-03-27T00:00", "2026-04-24T00:00"]),
    # Years, months by name, wrapped hours.
    ("cron(0 0 1 JAN ? 2030,2032)", "2026-01-01T00:00", ["2030-01-01T00:00", "2032-01-01T00:00"]),
    ("cron(0 0 1 1 ? */100)", "2026-01-01T00:00", ["2070-01-01T00:00", "2170-01-01T00:00"]),
    ("cron(30 22-1 * * ? *)", "2026-03-01T21:00", ["2026-03-01T22:30", "2026-03-01T23:30", "2026-03-02T00:30",
                                                   "2026-03-02T01:30", "2026-03-02T22:30"]),
    ("cron(0 0 29 2 ? *)", "2026-01-01T00:00", ["2028-02-29T00:00", "2032-02-29T00:00"]),
    ("cron(0 0 1 1 ? 2199)", "2199-01-01T00:00", []),
    ("cron(0 0 1 1 ? 1970)", "2026-01-01T00:00", []),
]


@pytest.mark.parametrize("text, now, expected", NEXT)
def test_next_fires(text, now, expected):
    schedule = parse(text)
    found, minute = [], m(now)
    for _ in expected:
        minute = schedule.next_after(minute)
        if minute is None:
            break
        found.append(iso(minute))
    assert found == expected
    if not expected:
        assert schedule.next_after(m(now)) is None


# Rates count from their anchor and never fire at it; `fires` lists (after, upto].
RATE_FIRES = [
    (5, 100, 100, 120, [105, 110, 115, 120]),
    (5, 100, 103, 112, [105, 110]),
    (5, 100, 105, 105, []),
    (5, 100, 90, 104, []),
    (1, 100, 100, 103, [101, 102, 103]),
    (60, 0, 0, 180, [60, 120, 180]),
    (3, 10, 50, 57, [52, 55]),
]


@pytest.mark.parametrize("period, anchor, after, upto, expected", RATE_FIRES)
def test_rate_fires(period, anchor, after, upto, expected):
    assert Rate(period).fires(anchor, after, upto) == expected


def test_cron_fires_lists_the_window():
    schedule = parse("cron(0/20 * * * ? *)")
    assert [iso(x) for x in schedule.fires(0, m("2026-03-01T10:00"), m("2026-03-01T11:00"))] == [
        "2026-03-01T10:20", "2026-03-01T10:40", "2026-03-01T11:00"]
