"""lamina.cluster.admission: the block policy (table tests) and two fronts sharing one database's blocks
(SQLite in tmp stands in for PostgreSQL: the same BlockStore code, one writer at a time)."""

import pytest
import sqlalchemy as sa

from lamina.cluster.admission import (
    ACCOUNT_EXCEEDED,
    ACCOUNT_POOL,
    RESERVED_EXCEEDED,
    ClusterAdmission,
    block_size,
    to_ask,
    to_keep,
)
from lamina.errors import ServiceException, TooManyRequestsException
from lamina.store.concurrency_blocks import granted
from lamina.store.database import open_database


@pytest.mark.parametrize(("capacity", "block"), [(0, 1), (1, 1), (2, 1), (15, 1), (16, 2), (100, 12), (1000, 16)])
def test_block_size(capacity, block):
    assert block_size(capacity) == block


@pytest.mark.parametrize(("in_use", "held", "capacity", "ask"), [
    (0, 0, 1000, 0),     # idle: nothing ahead
    (1, 16, 1000, 0),    # plenty free
    (10, 16, 1000, 16),  # free 6 < half a block (8): a block ahead
    (16, 16, 1000, 16),
    (995, 998, 1000, 2),  # never past the capacity
    (2, 2, 2, 0),        # holds the whole pool
    (1, 1, 2, 1),        # small pool: one unit at a time
])
def test_to_ask(in_use, held, capacity, ask):
    assert to_ask(in_use=in_use, held=held, capacity=capacity) == ask


@pytest.mark.parametrize(("in_use", "held", "capacity", "idle_for", "keep"), [
    (0, 16, 1000, 5.0, 0),    # idle: everything unused goes back
    (3, 16, 1000, 5.0, 3),
    (3, 16, 1000, 0.1, 16),   # busy: in use + up to two blocks
    (3, 64, 1000, 0.1, 35),
    (2, 5, 2, 0.1, 2),        # the pool shrank: keep only what fits (and never less than in use)
    (4, 5, 2, 0.1, 4),
])
def test_to_keep(in_use, held, capacity, idle_for, keep):
    assert to_keep(in_use=in_use, held=held, capacity=capacity, idle_for=idle_for, idle_after=1.0) == keep


@pytest.mark.parametrize(("want", "capacity", "others", "units"), [(4, 10, 0, 4), (4, 10, 8, 2), (4, 10, 10, 0),
                                                                    (4, 10, 12, 0)])
def test_granted(want, capacity, others, units):
    assert granted(want, capacity, others) == units


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def fronts(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'lamina.db'}")
    clock = Clock()
    a = ClusterAdmission(database, "a", 20, {"r": 2}, clock=clock, ttl=10, idle_after=1.0)
    b = ClusterAdmission(database, "b", 20, {"r": 2}, clock=clock, ttl=10, idle_after=1.0)
    yield a, b, clock
    database.dispose()


def reason(admission, name):
    with pytest.raises(TooManyRequestsException) as info:
        admission.acquire(name)
    return info.value.body()["Reason"]


def test_reserved_concurrency_holds_across_fronts(fronts):
    a, b, clock = fronts
    token = a.acquire("r")
    b.acquire("r")
    assert reason(a, "r") == RESERVED_EXCEEDED
    clock.now += 1
    assert reason(b, "r") == RESERVED_EXCEEDED
    a.release("r", token)
    a.acquire("r")  # a still holds the unit it released
    a.release("r", token)
    clock.now += 2
    a.round()  # idle: a gives its unit back
    assert a.held() == {}
    b.acquire("r")
    assert b.running_of("r") == 2


def test_account_pool_is_the_limit_less_reservations(fronts):
    a, b, clock = fronts
    tokens = [a.acquire(f"f{i}") for i in range(10)] + [b.acquire(f"g{i}") for i in range(8)]
    assert all(tokens)
    clock.now += 1
    assert reason(a, "another") == ACCOUNT_EXCEEDED
    assert a.running() + b.running() == 18


def test_dead_front_blocks_expire(fronts):
    a, b, clock = fronts
    a.acquire("r")
    a.acquire("r")
    assert reason(b, "r") == RESERVED_EXCEEDED
    clock.now += 11  # a stopped renewing (killed): its blocks expire
    b.acquire("r")
    b.acquire("r")
    assert b.held() == {"r": 2}


def test_zero_reserved_and_closing_gives_back(fronts):
    a, b, clock = fronts
    a.set_reserved({"r": 0})
    assert reason(a, "r") == RESERVED_EXCEEDED
    b.acquire("r")
    b.acquire("r")
    b.close()
    clock.now += 1
    a.set_reserved({"r": 2})
    a.acquire("r")
    a.acquire("r")
    assert a.held() == {"r": 2} and ACCOUNT_POOL not in a.held()


class Unreachable:
    calls = 0

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            Unreachable.calls += 1
            raise sa.exc.OperationalError("SELECT 1", {}, OSError("connection refused"))
        return fail


def test_an_unreachable_database_is_a_service_error_and_misses_do_not_wait_on_it(fronts):
    a, _, clock = fronts
    token = a.acquire("f")  # a holds a block of the account pool
    a._blocks = Unreachable()
    a.round()  # renewing fails
    a.release("f", token)
    a.acquire("f")  # units held and still valid: no database needed
    with pytest.raises(ServiceException):
        a.acquire("r")  # a miss while the database is down
    calls = Unreachable.calls
    with pytest.raises(ServiceException):
        a.acquire("r")
    assert Unreachable.calls == calls  # answered at once, without asking the database again
    clock.now += 20  # the blocks may have expired meanwhile: nothing is admitted from them
    with pytest.raises(ServiceException):
        a.acquire("f")
