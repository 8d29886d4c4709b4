"""Singleton leases on a real PostgreSQL: one holder at a time, and a holder killed with SIGKILL frees
its lease (its session ends) so another node takes it."""

import os
import signal
import subprocess
import sys
import uuid

import pytest

from lamina.cluster.leases import Leases
from pg_support import throwaway_database
from support import wait_for

HOLDER = """
import sys, time
from lamina.cluster.leases import Leases
leases = Leases(sys.argv[1], cluster=sys.argv[2], interval=0.2)
leases.want("clock", gained=lambda: print("gained", flush=True))
leases.start()
time.sleep(600)
"""


@pytest.fixture(scope="module")
def database_url():
    with throwaway_database("lamina_integrate") as url:
        yield url


def test_one_holder_and_release_on_close(database_url):
    cluster = f"t{uuid.uuid4().hex[:8]}"
    gained, lost = [], []
    a = Leases(database_url, cluster=cluster, interval=0.2)
    b = Leases(database_url, cluster=cluster, interval=0.2)
    a.want("clock", gained=lambda: gained.append("a"), lost=lambda: lost.append("a"))
    b.want("clock", gained=lambda: gained.append("b"))
    a.round()
    b.round()
    assert a.held("clock") and not b.held("clock") and gained == ["a"]
    a.close()
    assert lost == ["a"] and not a.held("clock")
    b.round()
    assert b.held("clock") and gained == ["a", "b"]
    b.close()


def test_a_killed_holder_frees_its_lease(database_url):
    cluster = f"t{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, database_url, cluster], stdout=subprocess.PIPE,
                              env=env, text=True)
    try:
        assert holder.stdout.readline().strip() == "gained"
        other = Leases(database_url, cluster=cluster, interval=0.2)
        other.want("clock")
        other.round()
        assert not other.held("clock")
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        other.start()
        wait_for(lambda: other.held("clock"), timeout=30, what="the lease to pass to the surviving node")
        other.close()
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGKILL)
            holder.wait()
