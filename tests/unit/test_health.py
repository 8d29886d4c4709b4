"""The /health document is built from the callables it is handed."""

from lamina import __version__
from lamina.health import Health


def test_document():
    health = Health(data_dir="/data", endpoint="http://127.0.0.1:9001", backend="process",
                    not_enforced=lambda: ["memory limit", "network"], usage=lambda: (3, 4096),
                    engine_stats=lambda: {"backend": "process", "environments": 2, "busy": 1},
                    queued_events=lambda: 7)
    assert health.document() == {
        "status": "ok", "version": __version__, "dataDir": "/data", "endpoint": "http://127.0.0.1:9001",
        "sandbox": {"backend": "process", "notEnforced": ["memory limit", "network"]},
        "auth": {"mode": "off"},
        "counts": {"functions": 3, "codeBytes": 4096, "environments": 2, "busy": 1, "queuedEvents": 7},
    }


def test_an_unauthenticated_public_address_is_flagged():
    health = Health(data_dir="/data", endpoint="http://0.0.0.0:9001", backend="process", not_enforced=lambda: [],
                    usage=lambda: (0, 0), engine_stats=lambda: {}, queued_events=lambda: 0, auth="none",
                    auth_warning="lamina serves a non-loopback address without authentication")
    assert health.document()["auth"] == {"mode": "none",
                                         "warning": "lamina serves a non-loopback address without authentication"}
