"""EventBridge schedule expressions: parsing `rate(...)` and `cron(...)` and the next minutes they fire.

Pure functions on integers: a minute is a count of minutes since 1970-01-01T00:00Z (UTC, as
EventBridge evaluates rules). `parse(text)` gives a `Rate` or a `Cron`, or raises
`InvalidSchedule` (the caller answers AWS's "Parameter ScheduleExpression is not valid.");
`Schedule.fires(anchor, after, upto)` lists the minutes in (after, upto] it fires at.

Grammar (reference section 3.4):
- `rate(<n> <unit>)`: n a positive integer, unit minute(s) | hour(s) | day(s), singular exactly when
  n is 1; lower case, no stray spaces. A rate fires every n units counted from its anchor (the
  minute the schedule was set), never at the anchor itself.
- `cron(Minutes Hours Day-of-month Month Day-of-week Year)`: six fields. Lists `,`, ranges `-`
  (wrapping, e.g. FRI-MON), steps `/` (`0/15`, `*/5`, `10-50/20`), `*`; day-of-month also `?`,
  `L` (last day), `LW` (last weekday), `<d>W` (nearest weekday to d, within the month);
  day-of-week 1-7 or SUN-SAT (1 = SUN) also `?`, `L` (Saturday), `<d>L` (last such weekday of
  the month), `<d>#<n>` (the n-th such weekday; alone in its field); months 1-12 or JAN-DEC;
  years 1970-2199. Exactly one of day-of-month and day-of-week is `?`.
Imports nothing from lamina.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

MIN_YEAR, MAX_YEAR = 1970, 2199
MINUTES_PER_DAY = 1440
_EPOCH = dt.date(1970, 1, 1)
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\(([^()]*)\)")
_UNIT_MINUTES = {"minute": 1, "hour": 60, "day": MINUTES_PER_DAY}
_MONTHS = {name: i for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
_DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}
MAX_FIRES = 10_000  # minutes listed by one `fires` call at most (a bound, not a catch-up policy)


class InvalidSchedule(ValueError):
    """A malformed schedule expression (the reason is for lamina's log; AWS's text names none)."""


@dataclass(frozen=True)
class Rate:
    minutes: int  # the period

    def fires(self, anchor: int, after: int, upto: int) -> list[int]:
        """The minutes in (after, upto] at which the rate fires, counted from `anchor`."""
        start = max(after + 1, anchor + 1)
        first = start + (-(start - anchor)) % self.minutes
        return list(range(first, upto + 1, self.minutes))[:MAX_FIRES]


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day_of_month: tuple[str, ...] | None  # None = `?`; else terms: "*", "<d>", "L", "LW", "<d>W"
    day_of_week: tuple[str, ...] | None  # None = `?`; else terms: "*", "<d>", "<d>L", "<d>#<n>"

    def fires(self, anchor: int, after: int, upto: int) -> list[int]:
        """The minutes in (after, upto] the expression matches (`anchor` plays no part in a cron)."""
        out: list[int] = []
        minute = after
        while len(out) < MAX_FIRES:
            nxt = self.next_after(minute)
            if nxt is None or nxt > upto:
                break
            out.append(nxt)
            minute = nxt
        return out

    def next_after(self, minute: int) -> int | None:
        """The first minute strictly after `minute` that the expression matches, or None (none before 2200)."""
        start = minute + 1
        day_index, minute_of_day = divmod(start, MINUTES_PER_DAY)
        day = _EPOCH + dt.timedelta(days=day_index)
        times = sorted(h * 60 + m for h in self.hours for m in self.minutes)
        while day.year <= MAX_YEAR:
            if day.year not in self.years:
                day = dt.date(day.year + 1, 1, 1)
                minute_of_day = 0
                continue
            if day.month not in self.months:
                day = _first_of_next_month(day)
                minute_of_day = 0
                continue
            if self._day_matches(day):
                for t in times:
                    if t >= minute_of_day:
                        return (day - _EPOCH).days * MINUTES_PER_DAY + t
            day += dt.timedelta(days=1)
            minute_of_day = 0
        return None

    def _day_matches(self, day: dt.date) -> bool:
        if self.day_of_month is not None:
            return any(_dom_term_matches(term, day) for term in self.day_of_month)
        assert self.day_of_week is not None
        return any(_dow_term_matches(term, day) for term in self.day_of_week)


Schedule = Rate | Cron


def _first_of_next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + 1, 1, 1) if day.month == 12 else dt.date(day.year, day.month + 1, 1)


def _weekday(day: dt.date) -> int:
    """1 = Sunday … 7 = Saturday, as cron counts."""
    return (day.isoweekday() % 7) + 1


def _nearest_weekday(year: int, month: int, target: int) -> int:
    """The day of the month of the weekday nearest `target` without leaving the month (Quartz's W)."""
    last = calendar.monthrange(year, month)[1]
    target = min(target, last)
    weekday = dt.date(year, month, target).isoweekday()  # 6 = Saturday, 7 = Sunday
    if weekday == 6:
        return target - 1 if target > 1 else target + 2
    if weekday == 7:
        return target + 1 if target < last else target - 2
    return target


def _dom_term_matches(term: str, day: dt.date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    if term == "*":
        return True
    if term == "L":
        return day.day == last
    if term == "LW":
        return day.day == _nearest_weekday(day.year, day.month, last)
    if term.endswith("W"):
        return day.day == _nearest_weekday(day.year, day.month, int(term[:-1]))
    return day.day == int(term)


def _dow_term_matches(term: str, day: dt.date) -> bool:
    weekday = _weekday(day)
    if term == "*":
        return True
    if "#" in term:
        wanted, nth = (int(part) for part in term.split("#"))
        return weekday == wanted and (day.day - 1) // 7 + 1 == nth
    if term.endswith("L"):
        last = calendar.monthrange(day.year, day.month)[1]
        return weekday == int(term[:-1]) and day.day + 7 > last
    return weekday == int(term)


def parse(text: str) -> Schedule:
    """The schedule an expression describes; InvalidSchedule when AWS would refuse it."""
    if not isinstance(text, str):
        raise InvalidSchedule("not a string")
    rate = _RATE.fullmatch(text)
    if rate is not None:
        return _rate(int(rate[1]), rate[2])
    cron = _CRON.fullmatch(text)
    if cron is not None:
        return _cron(cron[1])
    raise InvalidSchedule("neither rate(...) nor cron(...)")


def _rate(value: int, unit: str) -> Rate:
    singular = unit.rstrip("s") if unit.endswith("s") else unit
    if value < 1:
        raise InvalidSchedule("the rate must be positive")
    if (value == 1) != (unit == singular):
        raise InvalidSchedule("1 takes the singular unit, more the plural")
    return Rate(value * _UNIT_MINUTES[singular])


def _number(token: str, low: int, high: int, names: dict[str, int] | None = None) -> int:
    if names is not None and token.upper() in names:
        return names[token.upper()]
    if not token.isdigit():
        raise InvalidSchedule(f"{token!r} is not a number")
    value = int(token)
    if not low <= value <= high:
        raise InvalidSchedule(f"{value} is outside {low}-{high}")
    return value


def _span(start: int, end: int, low: int, high: int) -> list[int]:
    """start..end inclusive, wrapping past `high` back to `low` when end < start."""
    if end >= start:
        return list(range(start, end + 1))
    return list(range(start, high + 1)) + list(range(low, end + 1))


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """A field of lists, ranges, steps and `*` as the set of values it selects."""
    out: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        if slash:
            step = _number(step_text, 1, high)
            if base == "*":
                start, end = low, high
            elif "-" in base:
                a, b = base.split("-", 1)
                start, end = _number(a, low, high, names), _number(b, low, high, names)
            else:
                start, end = _number(base, low, high, names), high
            out.update(_span(start, end, low, high)[::step])
        elif part == "*":
            out.update(range(low, high + 1))
        elif "-" in part:
            a, b = part.split("-", 1)
            out.update(_span(_number(a, low, high, names), _number(b, low, high, names), low, high))
        else:
            out.add(_number(part, low, high, names))
    return frozenset(out)


def _day_of_month(field: str) -> tuple[str, ...] | None:
    if field == "?":
        return None
    terms: list[str] = []
    for part in field.split(","):
        if part in ("L", "LW"):
            terms.append(part)
        elif part.endswith("W") and "," not in field:
            terms.append(f"{_number(part[:-1], 1, 31)}W")
        else:
            if "L" in part or "W" in part or "?" in part:
                raise InvalidSchedule(f"{part!r} in day-of-month")
            values = _values(part, 1, 31)
            terms.extend("*" if len(values) == 31 else str(v) for v in sorted(values))
    return tuple(dict.fromkeys(terms))


def _day_of_week(field: str) -> tuple[str, ...] | None:
    if field == "?":
        return None
    if "#" in field:
        if "," in field:
            raise InvalidSchedule("# allows a single expression in day-of-week")
        day, _, nth = field.partition("#")
        return (f"{_number(day, 1, 7, _DAYS)}#{_number(nth, 1, 5)}",)
    terms: list[str] = []
    for part in field.split(","):
        if part == "L":
            terms.append("7")
        elif part.endswith("L"):
            terms.append(f"{_number(part[:-1], 1, 7, _DAYS)}L")
        else:
            if "?" in part:
                raise InvalidSchedule("? inside a list")
            values = _values(part, 1, 7, _DAYS)
            terms.extend("*" if len(values) == 7 else str(v) for v in sorted(values))
    return tuple(dict.fromkeys(terms))


def _cron(body: str) -> Cron:
    fields = body.split(" ")
    if len(fields) != 6 or any(not f for f in fields):
        raise InvalidSchedule("cron takes six fields separated by single spaces")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise InvalidSchedule("exactly one of day-of-month and day-of-week must be ?")
    try:
        return Cron(minutes=_values(minute, 0, 59), hours=_values(hour, 0, 23), months=_values(month, 1, 12, _MONTHS),
                    years=_values(year, MIN_YEAR, MAX_YEAR), day_of_month=_day_of_month(dom),
                    day_of_week=_day_of_week(dow))
    except ValueError as error:  # int() of an odd token
        if isinstance(error, InvalidSchedule):
            raise
        raise InvalidSchedule(str(error)) from None


def minute_of(when: dt.datetime) -> int:
    """The minute index of a UTC datetime (seconds dropped)."""
    return int(when.replace(tzinfo=dt.UTC).timestamp() // 60) if when.tzinfo is None else int(when.timestamp() // 60)


def datetime_of(minute: int) -> dt.datetime:
    """The UTC datetime a minute index starts at."""
    return dt.datetime.fromtimestamp(minute * 60, dt.UTC)
