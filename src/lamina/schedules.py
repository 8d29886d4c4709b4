"""The EventBridge schedule clock: which minutes each scheduled rule fires, and firing them once each.

- `MinuteScale` turns wall-clock seconds into schedule minutes (minutes since 1970-01-01T00:00Z).
  At the default `minute_seconds` of 60 a schedule minute is a real UTC minute; a test setting
  (LAMINA_SCHEDULE_MINUTE_SECONDS) makes the clock run 60 / minute_seconds times faster, counted
  from 2026-01-01T00:00Z, so a `rate(1 minute)` rule fires every minute_seconds.
- `due(...)` (pure, table-tested) lists the minutes a rule fires at on one tick: those after
  both its last fired minute and the floor, up to now.
- `ScheduleClock.tick` (a periodic job on lamina's supervisor) claims each due minute durably
  (`claim`: a compare-and-set of the rule's last fired minute) before it fires it, so a minute
  never fires twice, across restarts included. The floor is the minute before the clock started:
  minutes that passed while lamina was down are not fired afterwards (EventBridge does not
  backfill either); the minute lamina starts in fires if it had not yet. A crash (or a stop
  that closes the queue) between the claim and the durable enqueue of the targets' invokes
  (milliseconds) loses that minute's firing rather than doubling it. A last fired minute more
  than REWIND_AFTER minutes in the future (the data dir was used with another minute length,
  or the wall clock was stepped back that far) is rewound to now, so the rule fires again
  instead of waiting for that minute.
Handed callables (the rules' reads, claim and fire); imports lamina.schedule_expression only.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from lamina.schedule_expression import Schedule

log = logging.getLogger("lamina.schedules")
SCALE_ORIGIN = 1_767_225_600.0  # 2026-01-01T00:00Z: where a scaled clock starts running faster
MAX_TICK_INTERVAL = 5.0
REWIND_AFTER = 60  # a last fired minute this far ahead of now is from another clock: start again from now


class Scheduled(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def schedule(self) -> Schedule: ...

    @property
    def anchor(self) -> int: ...

    @property
    def last_fired(self) -> int | None: ...

    @property
    def enabled(self) -> bool: ...


@dataclass(frozen=True)
class MinuteScale:
    minute_seconds: float = 60.0
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if not self.minute_seconds > 0:
            raise ValueError(f"LAMINA_SCHEDULE_MINUTE_SECONDS must be positive, not {self.minute_seconds}")

    def minute_at(self, seconds: float) -> int:
        virtual = SCALE_ORIGIN + (seconds - SCALE_ORIGIN) * 60.0 / self.minute_seconds
        return math.floor(virtual / 60.0)

    def start_of(self, minute: int) -> float:
        """Wall-clock seconds when `minute` begins."""
        return SCALE_ORIGIN + (minute * 60.0 - SCALE_ORIGIN) * self.minute_seconds / 60.0

    def now(self) -> int:
        return self.minute_at(self.clock())

    @property
    def tick_interval(self) -> float:
        """How often the clock looks: a quarter of a minute, at most MAX_TICK_INTERVAL seconds."""
        return min(self.minute_seconds / 4.0, MAX_TICK_INTERVAL)


def due(schedule: Schedule, *, anchor: int, last_fired: int | None, floor: int, now: int) -> list[int]:
    """The minutes a rule fires at on a tick at `now`: after its last fired minute (or its anchor)
    and after `floor`, up to `now` included."""
    after = max(anchor if last_fired is None else last_fired, floor)
    if after >= now:
        return []
    return schedule.fires(anchor, after, now)


class ScheduleClock:
    def __init__(self, scale: MinuteScale, *, rules: Callable[[], Sequence[Scheduled]],
                 claim: Callable[[Scheduled, int], bool], fire: Callable[[Scheduled, int], None],
                 rewind: Callable[[Scheduled, int], None] = lambda rule, minute: None) -> None:
        self._scale = scale
        self._rewind = rewind
        self._rules = rules
        self._claim = claim
        self._fire = fire
        self._floor = scale.now() - 1
        self._cache: list | None = None  # the scheduled rules, read again after a change
        self._generation = 0

    def changed(self, _event: object = None) -> None:
        """A rule changed (the subscriber of lamina.events.RuleChanged): read the rules again."""
        self._generation += 1
        self._cache = None

    def _scheduled(self) -> list:
        cached = self._cache
        if cached is not None:
            return cached
        generation = self._generation
        rules = list(self._rules())
        if generation == self._generation:  # no change arrived while reading
            self._cache = rules
        return rules

    def restart_floor(self) -> None:
        """Forget minutes before now (called when the clock starts running)."""
        self._floor = self._scale.now() - 1

    def tick(self) -> int:
        """Fire every due minute of every enabled scheduled rule; how many firings."""
        now = self._scale.now()
        fired = 0
        rules = self._scheduled()
        for index, rule in enumerate(rules):
            if not rule.enabled:
                continue
            if rule.last_fired is not None and rule.last_fired > now + REWIND_AFTER:
                log.warning("rule %s last fired at minute %d, after now (%d): its schedule starts again from now",
                            rule.name, rule.last_fired, now)
                self._rewind(rule, now)
                self.changed()
                continue
            for minute in due(rule.schedule, anchor=rule.anchor, last_fired=rule.last_fired, floor=self._floor,
                              now=now):
                if not self._claim(rule, minute):
                    self.changed()  # someone else moved it: read it again next tick
                    continue
                rule = rules[index] = dataclasses.replace(rule, last_fired=minute)
                try:
                    self._fire(rule, minute)
                    fired += 1
                except Exception:
                    log.exception("firing rule %s at minute %d failed", rule.name, minute)
        return fired
