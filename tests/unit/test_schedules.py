"""The schedule clock: which minutes are due (table), the minute scale, and firing each minute once."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lamina.schedule_expression import Rate, parse
from lamina.schedules import SCALE_ORIGIN, MinuteScale, ScheduleClock, due

# (schedule, anchor, last fired, floor, now, due minutes)
DUE = [
    (Rate(1), 100, None, 99, 103, [101, 102, 103]),  # a new rule: from its anchor
    (Rate(1), 100, 102, 99, 103, [103]),  # the minutes already fired are not fired again
    (Rate(1), 100, 103, 99, 103, []),
    (Rate(5), 100, 105, 99, 112, [110]),
    (Rate(5), 100, 105, 118, 125, [120, 125]),  # down from 106 to 118: 110 and 115 are not backfilled
    (Rate(5), 100, 105, 119, 125, [120, 125]),
    (Rate(5), 100, 105, 120, 125, [125]),  # started in minute 121: 120 passed while down
    (Rate(2), 100, None, 150, 154, [152, 154]),  # the rate keeps its phase across the gap
    (Rate(1), 100, 200, 99, 150, []),  # a last fired minute ahead of now (clock moved back)
    (parse("cron(0/10 * * * ? *)"), 0, 100, 99, 125, [110, 120]),
    (parse("cron(0/10 * * * ? *)"), 0, 100, 115, 125, [120]),
]


@pytest.mark.parametrize("schedule, anchor, last_fired, floor, now, expected", DUE)
def test_due(schedule, anchor, last_fired, floor, now, expected):
    assert due(schedule, anchor=anchor, last_fired=last_fired, floor=floor, now=now) == expected


@pytest.mark.parametrize("seconds", [60.0, 1.0, 0.5, 7.0])
def test_minute_scale_round_trips(seconds):
    scale = MinuteScale(seconds)
    for wall in (SCALE_ORIGIN, SCALE_ORIGIN + 12_345.6, SCALE_ORIGIN + 9_000_000.0):
        minute = scale.minute_at(wall)
        assert scale.start_of(minute) <= wall < scale.start_of(minute + 1) + 1e-6


def test_the_default_scale_is_real_utc_minutes():
    scale = MinuteScale()
    assert scale.minute_at(1_767_225_659.9) == 1_767_225_600 // 60
    assert scale.minute_at(1_800_000_000.0) == 30_000_000
    assert scale.tick_interval == 5.0
    assert MinuteScale(1.0).tick_interval == 0.25


@dataclass(frozen=True)
class Rule:
    name: str
    schedule: object
    anchor: int
    last_fired: int | None
    enabled: bool = True


class FakeRules:
    """A store of rules with the compare-and-set claim the real one has."""

    def __init__(self, *rules: Rule) -> None:
        self.rules = {rule.name: rule for rule in rules}
        self.fired: list[tuple[str, int]] = []
        self.reads = 0

    def scheduled(self):
        self.reads += 1
        return list(self.rules.values())

    def claim(self, rule, minute) -> bool:
        stored = self.rules[rule.name]
        if stored.last_fired is not None and stored.last_fired >= minute:
            return False
        self.rules[rule.name] = Rule(stored.name, stored.schedule, stored.anchor, minute, stored.enabled)
        return True

    def fire(self, rule, minute) -> None:
        self.fired.append((rule.name, minute))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def clock_for(rules: FakeRules, wall: Clock) -> ScheduleClock:
    return ScheduleClock(MinuteScale(60.0, wall), rules=rules.scheduled, claim=rules.claim, fire=rules.fire)


def test_each_minute_fires_once_and_disabled_rules_not_at_all():
    wall = Clock(6000.0)  # minute 100
    rules = FakeRules(Rule("a", Rate(1), 100, 100), Rule("off", Rate(1), 100, 100, enabled=False))
    clock = clock_for(rules, wall)
    clock.tick()
    wall.now = 6000.0 + 3 * 60 + 5  # minute 103
    assert clock.tick() == 3
    assert clock.tick() == 0  # the same minutes are not fired again
    assert rules.fired == [("a", 101), ("a", 102), ("a", 103)]


def test_a_second_clock_on_the_same_store_does_not_double_fire():
    wall = Clock(6000.0)
    rules = FakeRules(Rule("a", Rate(1), 100, 100))
    first, second = clock_for(rules, wall), clock_for(rules, wall)
    wall.now += 120
    assert first.tick() + second.tick() == 2
    assert rules.fired == [("a", 101), ("a", 102)]


def test_minutes_missed_while_down_are_skipped():
    wall = Clock(6000.0)
    rules = FakeRules(Rule("a", Rate(1), 100, 100))
    wall.now = 6000.0 + 10 * 60 + 30  # started in minute 110: 101..109 passed while lamina was down
    clock = clock_for(rules, wall)
    clock.restart_floor()
    clock.tick()
    assert rules.fired == [("a", 110)]


def test_rules_are_read_again_only_after_a_change():
    wall = Clock(6000.0)
    rules = FakeRules(Rule("a", Rate(1), 100, 100))
    clock = clock_for(rules, wall)
    for _ in range(3):
        wall.now += 60
        clock.tick()
    assert rules.reads == 1 and [m for _, m in rules.fired] == [101, 102, 103]
    rules.rules["b"] = Rule("b", Rate(1), 103, 103)
    clock.changed()
    wall.now += 60
    clock.tick()
    assert rules.reads == 2 and sorted(rules.fired[-2:]) == [("a", 104), ("b", 104)]


def test_a_failing_fire_is_logged_and_the_minute_stays_claimed():
    wall = Clock(6000.0)
    rules = FakeRules(Rule("a", Rate(1), 100, 100))

    def fire(rule, minute):
        raise RuntimeError("boom")

    clock = ScheduleClock(MinuteScale(60.0, wall), rules=rules.scheduled, claim=rules.claim, fire=fire)
    wall.now += 60
    assert clock.tick() == 0
    assert rules.rules["a"].last_fired == 101


def test_a_last_fired_minute_far_in_the_future_is_rewound_to_now():
    wall = Clock(6000.0)  # minute 100
    rules = FakeRules(Rule("a", Rate(1), 100, 100_000))
    rewound = []

    def rewind(rule, minute):
        rewound.append((rule.name, minute))
        stored = rules.rules[rule.name]
        rules.rules[rule.name] = Rule(stored.name, stored.schedule, min(stored.anchor, minute), minute)

    clock = ScheduleClock(MinuteScale(60.0, wall), rules=rules.scheduled, claim=rules.claim, fire=rules.fire,
                          rewind=rewind)
    assert clock.tick() == 0 and rewound == [("a", 100)]
    wall.now += 60
    clock.tick()
    assert rules.fired == [("a", 101)]


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("nan")])
def test_a_minute_must_have_a_positive_length(seconds):
    with pytest.raises(ValueError, match="LAMINA_SCHEDULE_MINUTE_SECONDS must be positive"):
        MinuteScale(seconds)
