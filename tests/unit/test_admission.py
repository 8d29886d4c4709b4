"""lamina.admission: reserved concurrency and the unreserved pool."""

import pytest

from lamina.admission import ACCOUNT_EXCEEDED, RESERVED_EXCEEDED, Admission, decide
from lamina.errors import TooManyRequestsException


@pytest.mark.parametrize(("reserved", "running", "unreserved_running", "pool", "reason"), [
    (None, 0, 0, 10, None),
    (None, 5, 9, 10, None),
    (None, 5, 10, 10, ACCOUNT_EXCEEDED),
    (2, 1, 50, 10, None),
    (2, 2, 0, 10, RESERVED_EXCEEDED),
    (0, 0, 0, 10, RESERVED_EXCEEDED),
])
def test_decide(reserved, running, unreserved_running, pool, reason):
    assert decide(reserved=reserved, running=running, unreserved_running=unreserved_running,
                  unreserved_pool=pool) == reason


def test_admission_counts_and_releases():
    admission = Admission(102, {"reserved": 2})
    tokens = [admission.acquire("reserved"), admission.acquire("reserved")]
    with pytest.raises(TooManyRequestsException) as info:
        admission.acquire("reserved")
    assert info.value.body()["Reason"] == RESERVED_EXCEEDED
    others = [admission.acquire(f"f{i}") for i in range(100)]
    with pytest.raises(TooManyRequestsException) as info:
        admission.acquire("another")
    assert info.value.body() == {"Reason": ACCOUNT_EXCEEDED, "Type": "User", "message": "Rate Exceeded."}
    admission.release("f0", others[0])
    admission.acquire("another")
    admission.release("reserved", tokens[0])
    admission.acquire("reserved")
    assert admission.running() == 102
