"""StartGate: a few environments initialise at once, the rest wait their turn in order; a slot
comes back when released, when its hold time is over, or when a waiter gives up."""

import asyncio

import pytest

from lamina.engine.gate import StartGate, default_slots


@pytest.mark.parametrize(("cpus", "slots"), [(1, 4), (2, 8), (16, 64), (None, default_slots())])
def test_default_slots(cpus, slots):
    assert default_slots(cpus) == slots


def test_waiters_get_slots_in_order_as_slots_come_back():
    async def scenario():
        gate = StartGate(2, hold_s=60)
        turns = [gate.ticket() for _ in range(5)]
        await asyncio.sleep(0)
        assert [t.done() for t in turns] == [True, True, False, False, False]
        assert gate.waiting == 3
        turns[0].result().release()
        turns[0].result().release()  # once only: a second release gives nothing back
        assert [t.done() for t in turns] == [True, True, True, False, False]
        turns[1].result().release()
        turns[2].result().release()
        assert all(t.done() for t in turns) and gate.waiting == 0
        for turn in turns[3:]:
            turn.result().release()
        assert [gate.ticket().done() for _ in range(3)] == [True, True, False]  # two free again
    asyncio.run(scenario())


def test_a_slot_held_past_its_hold_time_comes_back():
    async def scenario():
        gate = StartGate(1, hold_s=0.01)
        first, second = gate.ticket(), gate.ticket()
        assert first.done() and not second.done()
        await asyncio.wait_for(second, 5)  # the first never released its slot
    asyncio.run(scenario())


def test_giving_up_leaves_the_queue_or_returns_the_slot():
    async def scenario():
        gate = StartGate(1, hold_s=60)
        first, second, third = gate.ticket(), gate.ticket(), gate.ticket()
        StartGate.give_up(second)  # waiting: its turn is cancelled and skipped
        assert second.cancelled() and gate.waiting == 1
        StartGate.give_up(first)  # holding: its slot goes to the next waiter
        assert third.done() and not third.cancelled()
        StartGate.give_up(third)
        assert gate.ticket().done()
    asyncio.run(scenario())
