"""One environment's timeouts (lamina.engine.deadline): the Init timer, the invocation timeout
without a timer per event, and no timeouts at all while a debugger may hold the function. A loop
whose clock the test moves: no test here waits for real time."""

from __future__ import annotations

import pytest
from engine_fakes import spec

from lamina.engine.deadline import Deadline, expire


class Timer:
    def __init__(self, when: float, callback, args: tuple) -> None:
        self.when, self.callback, self.args = when, callback, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    """time() and call_later() of an event loop, on a clock the test moves with `advance`."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.timers: list[Timer] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback, *args) -> Timer:
        timer = Timer(self.now + delay, callback, args)
        self.timers.append(timer)
        return timer

    def armed(self) -> list[float]:
        """When the timers not yet fired nor cancelled are due, relative to now."""
        return [timer.when - self.now for timer in self.timers if not timer.cancelled]

    def advance(self, seconds: float) -> None:
        """Move the clock, running each timer that comes due on the way, in order."""
        until = self.now + seconds
        while True:
            due = [timer for timer in self.timers if not timer.cancelled and timer.when <= until]
            if not due:
                break
            timer = min(due, key=lambda t: t.when)
            self.timers.remove(timer)
            self.now = timer.when
            timer.callback(*timer.args)
        self.now = until


class Waiter:
    """The done()/set_result() of a future."""

    def __init__(self) -> None:
        self.outcome = None

    def done(self) -> bool:
        return self.outcome is not None

    def set_result(self, outcome) -> None:
        assert self.outcome is None, "answered twice"
        self.outcome = outcome


def timed_out(waiter: Waiter) -> bool:
    return waiter.outcome is not None and waiter.outcome[:3] == ("timeout", None, {})


class Flight:
    """The environment's `in_flight`: the waiter of the event being run, or None between events."""

    def __init__(self) -> None:
        self.waiter: Waiter | None = None

    def __call__(self) -> Waiter | None:
        waiter = self.waiter
        return waiter if waiter is not None and not waiter.done() else None


def make(timeout: int = 3, debug_port: int | None = None):
    loop, flight = Loop(), Flight()
    return Deadline(loop, spec(timeout=timeout, debug_port=debug_port), flight), loop, flight  # type: ignore[arg-type]


@pytest.mark.parametrize(("debug_port", "enforced"), [(None, True), (5678, False)])
def test_timeouts_are_enforced_unless_a_debugger_may_hold_the_function(debug_port, enforced):
    deadline, loop, flight = make(debug_port=debug_port)
    assert deadline.enforced is enforced
    init = Waiter()
    handle = deadline.init_timer(10, init)
    assert (handle is not None) is enforced
    flight.waiter = Waiter()
    deadline.watch()
    loop.advance(3600)
    assert timed_out(init) is enforced and timed_out(flight.waiter) is enforced
    assert loop.armed() == []


def test_the_init_timer_answers_its_waiter_when_due_and_not_before():
    deadline, loop, _ = make()
    waiter = Waiter()
    deadline.init_timer(10, waiter)
    loop.advance(9.75)
    assert not waiter.done()
    loop.advance(0.25)
    assert timed_out(waiter)


def test_a_cancelled_init_timer_never_answers():
    deadline, loop, _ = make()
    waiter = Waiter()
    deadline.init_timer(10, waiter).cancel()  # type: ignore[union-attr]
    loop.advance(60)
    assert not waiter.done()


def test_expire_leaves_an_answered_waiter_as_it_was():
    waiter = Waiter()
    waiter.set_result(("ready", None, {}, 1.0))
    expire(waiter)  # type: ignore[arg-type]
    assert waiter.outcome == ("ready", None, {}, 1.0)


def test_consecutive_events_share_one_timer():
    deadline, loop, flight = make(timeout=3)
    for _ in range(5):
        flight.waiter = Waiter()
        deadline.watch()
        loop.advance(0.1)
        flight.waiter.set_result(("result", b"", {}, 0.0))
    assert loop.armed() == [pytest.approx(3 - 0.5)]  # the first event's, still armed


def test_an_event_times_out_when_its_own_deadline_comes():
    deadline, loop, flight = make(timeout=3)
    flight.waiter = Waiter()
    deadline.watch()  # arms a timer due at +3
    loop.advance(2)
    flight.waiter.set_result(("result", b"", {}, 0.0))
    later = flight.waiter = Waiter()
    deadline.watch()  # due at +5 from the first: the timer armed for +3 stays
    loop.advance(1)  # the timer fires at +3 and re-arms for the 2 s this event has left
    assert not later.done() and loop.armed() == [pytest.approx(2)]
    loop.advance(1.75)
    assert not later.done()  # a later event gets its whole timeout
    loop.advance(0.25)
    assert timed_out(later)


def test_a_timer_due_between_events_lapses_and_the_next_event_arms_another():
    deadline, loop, flight = make(timeout=3)
    flight.waiter = Waiter()
    deadline.watch()
    flight.waiter.set_result(("result", b"", {}, 0.0))
    flight.waiter = None
    loop.advance(10)
    assert loop.armed() == []
    flight.waiter = Waiter()
    deadline.watch()
    assert loop.armed() == [3]
    loop.advance(3)
    assert timed_out(flight.waiter)


def test_a_re_armed_timer_waits_at_least_a_millisecond():
    deadline, loop, flight = make(timeout=3)
    flight.waiter = Waiter()
    deadline.watch()
    loop.advance(3)
    assert timed_out(flight.waiter)
    flight.waiter = Waiter()
    deadline.watch()
    loop.now += 2.99995  # the timer fires a hair early (a loop's clock moves in whole milliseconds)
    due = loop.timers.pop()
    due.callback(*due.args)
    assert not flight.waiter.done() and loop.armed() == [pytest.approx(0.001)]


def test_cancel_ends_the_timeouts():
    deadline, loop, flight = make()
    flight.waiter = Waiter()
    deadline.watch()
    deadline.cancel()
    loop.advance(60)
    assert not flight.waiter.done() and loop.armed() == []
    deadline.cancel()  # twice is harmless (gone is gone)
