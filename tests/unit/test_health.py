"""The /health document is built from the callables it is handed."""

from lamina import __version__
from lamina.health import Health


def test_document():
    health = Health(data_dir="/data", endpoint="http://127.0.0.1:9001", backend="process",
                    not_enforced=lambda: ["memory limit", "network"], usage=lambda: (3, 4096),
                    engine_stats=lambda: {"backend": "process", "environments": 2, "busy": 1},
                    queued_events=lambda: 7, lane_accepts=lambda: 5, account_id="000000000000", region="us-east-1",
                    runtimes=lambda: {"python3.12": None, "nodejs22.x": "install node 22"},
                    zygotes=lambda: ["/usr/bin/python3.12"])
    assert health.document() == {
        "status": "ok", "version": __version__, "dataDir": "/data", "endpoint": "http://127.0.0.1:9001",
        "region": "us-east-1", "accountId": "000000000000",
        "sandbox": {"backend": "process", "notEnforced": ["memory limit", "network"],
                    "zygotes": ["/usr/bin/python3.12"]},
        "auth": {"mode": "off"},
        "counts": {"functions": 3, "codeBytes": 4096, "environments": 2, "busy": 1, "queuedEvents": 7,
                   "eventLaneAccepts": 5},
        "runtimes": {"python3.12": None, "nodejs22.x": "install node 22"},
    }


def test_an_unauthenticated_public_address_is_flagged():
    health = Health(data_dir="/data", endpoint="http://0.0.0.0:9001", backend="process", not_enforced=lambda: [],
                    usage=lambda: (0, 0), engine_stats=lambda: {}, queued_events=lambda: 0, auth="none",
                    auth_warning="lamina serves a non-loopback address without authentication")
    assert health.document()["auth"] == {"mode": "none",
                                         "warning": "lamina serves a non-loopback address without authentication"}
