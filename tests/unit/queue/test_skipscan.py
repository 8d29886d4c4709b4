"""lamina.queue.skipscan: a scan past a skip list keeps its answer only while nothing it may have
missed has changed, never past MAX_AGE_SECONDS and never once its time has come."""

import pytest

from lamina.queue.skipscan import MAX_AGE_SECONDS, MISS, Scan, SkipScans, survives, usable

T0 = 1_000.0


@pytest.mark.parametrize("scan, now, expected", [
    (Scan(None, T0), T0, True),  # nothing outside the skip list: holds while young
    (Scan(None, T0), T0 + MAX_AGE_SECONDS - 0.001, True),
    (Scan(None, T0), T0 + MAX_AGE_SECONDS, False),  # too old: another process may have written
    (Scan(T0 + 5, T0), T0 + 0.5, True),  # not yet due
    (Scan(T0 + 0.2, T0), T0 + 0.2, False),  # its time has come
    (Scan(T0 + 0.2, T0), T0 + 0.3, False),
    (Scan(T0 - 1, T0), T0, False),  # already due when scanned (the claim found it leased by then)
    (Scan(None, T0), T0 - 0.1, False),  # the clock went back: scan again
])
def test_usable(scan, now, expected):
    assert usable(scan, now) is expected


@pytest.mark.parametrize("skip, changed, expected", [
    (frozenset({"sink"}), "sink", True),  # the skipped function's own events were never read
    (frozenset({"sink", "b"}), "b", True),
    (frozenset({"sink"}), "other", False),  # an event the scan would have seen
    (frozenset({"sink"}), None, False),  # unknown whose: forget
])
def test_survives(skip, changed, expected):
    assert survives(skip, changed) is expected


def test_kept_per_skip_list_and_forgotten_by_what_it_may_have_missed():
    scans = SkipScans()
    sink, both = frozenset({"sink"}), frozenset({"sink", "b"})
    assert scans.next_at(sink, T0) is MISS
    scans.keep(sink, None, T0)
    scans.keep(both, T0 + 5, T0)
    assert scans.next_at(sink, T0 + 0.1) is None
    assert scans.next_at(both, T0 + 0.1) == T0 + 5
    scans.changed(["sink"])  # a burst's own events: both answers hold
    assert scans.next_at(sink, T0 + 0.1) is None and scans.next_at(both, T0 + 0.1) == T0 + 5
    scans.changed(["b", "sink"])  # b's event: the answer that read past b's events holds
    assert scans.next_at(sink, T0 + 0.1) is MISS and scans.next_at(both, T0 + 0.1) == T0 + 5
    scans.changed([None])
    assert scans.next_at(both, T0 + 0.1) is MISS


def test_an_answer_whose_time_has_come_is_forgotten():
    scans = SkipScans()
    sink = frozenset({"sink"})
    scans.keep(sink, T0 + 0.5, T0)
    assert scans.next_at(sink, T0 + 0.4) == T0 + 0.5
    assert scans.next_at(sink, T0 + 0.5) is MISS
    assert scans.next_at(sink, T0 + 0.1) is MISS  # gone, not merely skipped


def test_no_skip_list_keeps_nothing():
    scans = SkipScans()
    scans.keep(frozenset(), T0 + 5, T0)
    assert scans.next_at(frozenset(), T0) is MISS
