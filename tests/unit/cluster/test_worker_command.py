"""`lamina worker` refuses to start without the cluster's NATS server or its shared database."""

from __future__ import annotations

import pytest

from lamina.cli import main


@pytest.fixture(autouse=True)
def _no_cluster_environment(monkeypatch):
    for name in ("LAMINA_NATS_URL", "LAMINA_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_a_worker_needs_nats(capsys):
    assert main(["worker", "--database", "postgresql://db/x"]) == 2
    assert "--nats" in capsys.readouterr().err


def test_a_worker_needs_the_shared_database(capsys):
    assert main(["worker", "--nats", "nats://127.0.0.1:4222"]) == 2
    assert "--database" in capsys.readouterr().err


def test_serve_with_worker_needs_nats(capsys):
    assert main(["serve", "--with-worker"]) == 2
    assert "--nats" in capsys.readouterr().err
