"""How an async event is written on a JetStream message, and the pure decisions about it."""

import pytest

from lamina.cluster import queued_message as qm
from lamina.queue.queue import QueuedEvent


@pytest.mark.parametrize(("due_at", "now", "wait"), [
    (100.0, 100.0, None),  # due now
    (100.0, 250.0, None),  # overdue
    (100.002, 100.0, None),  # within timer slack: runs now
    (101.5, 100.0, 1.5),  # held back for the time left
    (160.0, 100.0, 60.0),
])
def test_wait_before_run(due_at, now, wait):
    got = qm.wait_before_run(due_at, now)
    assert got == pytest.approx(wait) if wait is not None else got is None


@pytest.mark.parametrize(("name", "token"), [
    ("my-function_1", "my-function_1"),
    ("a" * 64, "a" * 64),
    ("with.dot", "h" + __import__("hashlib").sha256(b"with.dot").hexdigest()[:32]),
    ("spaces here", "h" + __import__("hashlib").sha256(b"spaces here").hexdigest()[:32]),
    ("wild*", "h" + __import__("hashlib").sha256(b"wild*").hexdigest()[:32]),
    ("", "h" + __import__("hashlib").sha256(b"").hexdigest()[:32]),
])
def test_subject_token(name, token):
    assert qm.subject_token(name) == token


@pytest.mark.parametrize(("size", "max_payload", "inline"), [
    (0, 1_048_576, True),
    (1_048_576 - qm.HEADROOM, 1_048_576, True),
    (1_048_576 - qm.HEADROOM + 1, 1_048_576, False),
    (1_048_576, 1_048_576, False),
    (1_048_576, 8_388_608, True),
])
def test_inline(size, max_payload, inline):
    assert qm.inline(size, max_payload) is inline


@pytest.mark.parametrize("qualifier", [None, "live", "7"])
@pytest.mark.parametrize("ref", [None, "req-1-abcd"])
@pytest.mark.parametrize("trace", [None, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"])
def test_headers_round_trip(qualifier, ref, trace):
    headers = qm.headers_for(request_id="req-1", function_name="f", qualifier=qualifier, enqueued_at=1700000000.123456,
                             due_at=1700000060.5, runs=2, throttles=1, payload_ref=ref, trace=trace)
    assert all(isinstance(v, str) for v in headers.values())
    assert (qm.PAYLOAD_REF in headers) is (ref is not None) and (qm.QUALIFIER in headers) is (qualifier is not None)
    assert (qm.TRACE in headers) is (trace is not None)
    assert qm.event_from(42, headers, b"body") == QueuedEvent(42, "req-1", "f", qualifier, b"body", 1700000000.123456,
                                                              1700000060.5, 2, 1, trace)


@pytest.mark.parametrize("headers", [
    None,
    {},
    {qm.REQUEST_ID: "r", qm.FUNCTION: "f", qm.ENQUEUED_AT: "1", qm.DUE_AT: "1", qm.RUNS: "0"},  # no throttles
])
def test_messages_that_are_not_lamina_events(headers):
    with pytest.raises(ValueError):
        qm.event_from(1, headers, b"")


def test_a_retry_has_one_dedupe_id_per_replaced_message():
    assert qm.retry_msg_id(7) == qm.retry_msg_id(7) != qm.retry_msg_id(8)
    assert qm.headers_for(request_id="r", function_name="f", qualifier=None, enqueued_at=1, due_at=2, runs=1,
                          throttles=0, msg_id=qm.retry_msg_id(7))[qm.MSG_ID] == "lamina-retry-7"
