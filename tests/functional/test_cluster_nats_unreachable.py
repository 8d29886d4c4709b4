"""A cluster node whose NATS does not answer at start: `lamina serve --nats` and `lamina worker` exit 1
within seconds with a one-line reason (not a traceback, not a wait without end), and leave nothing
mounted in their data dirs; the connection itself raises NatsUnreachable, and once connected it
keeps reconnecting without limit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster_support import NATS, Cluster
from lamina.cluster.connection import FIRST_RETRIES, NatsUnreachable, connect
from lamina.engine import volumes
from support import free_port

PATIENCE = 60.0  # a failure bound, not a speed measure


@pytest.fixture
def cluster(tmp_path):
    cluster = Cluster(tmp_path)
    try:
        yield cluster
    finally:
        cluster.close()


def test_the_first_connection_gives_up_and_a_made_one_reconnects_without_limit():
    async def main():
        started = time.monotonic()
        with pytest.raises(NatsUnreachable, match=r"no NATS server answers at nats://127\.0\.0\.1:\d+"):
            await asyncio.wait_for(connect(f"nats://127.0.0.1:{free_port()}", name="test"), PATIENCE)
        assert time.monotonic() - started < PATIENCE
        nc = await connect(NATS, name="test")
        try:
            assert nc.is_connected and nc.options["max_reconnect_attempts"] == -1 != FIRST_RETRIES
        finally:
            await nc.close()

    asyncio.run(main())


@pytest.mark.parametrize("node", ["serve", "worker"])
def test_a_node_whose_nats_does_not_answer_exits_with_the_reason(cluster, tmp_path, node):
    dead = f"nats://127.0.0.1:{free_port()}"
    data_dir = tmp_path / node
    argv = [sys.executable, "-m", "lamina.cli", node, "--data-dir", str(data_dir), "--nats", dead]
    if node == "serve":
        argv += ["--host", "127.0.0.1", "--port", str(free_port())]
    else:
        argv += ["--database", cluster.database_url]
    done = subprocess.run(argv, env=cluster.env, capture_output=True, text=True, timeout=PATIENCE)
    assert done.returncode == 1, done.stderr
    label = "lamina" if node == "serve" else "lamina worker"
    assert f"{label}: Could not connect to NATS for code blobs at {dead}: no server answers." in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    mounts = volumes.mounts_at_or_under(Path("/proc/self/mountinfo").read_text(), str(data_dir))
    assert mounts == []  # the sandbox's volume mount was given back
