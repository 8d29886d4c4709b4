"""Which functions get a network: the lamina:network tag."""

import pytest

from lamina.run_specs import wants_network


@pytest.mark.parametrize(("tags", "network"), [
    ({}, True),
    ({"lamina:network": "none"}, False),
    ({"lamina:network": "NONE"}, False),
    ({"lamina:network": "host"}, True),
    ({"other": "none"}, True),
])
def test_wants_network(tags, network):
    assert wants_network(tags) is network


def test_execution_role_credentials_rotate_by_period():
    from pathlib import Path
    from types import SimpleNamespace

    from lamina.model import FunctionVersion
    from lamina.run_specs import RunSpecs

    clock = SimpleNamespace(now=10_000.0)
    minted = []

    def credentials(role, function, expiration):
        minted.append((role, function, expiration))
        return ("ASIA" + "A" * 16, "s" * 40, f"token-{len(minted)}")

    specs = RunSpecs(SimpleNamespace(get=lambda name: None), SimpleNamespace(unpacked=lambda hex_: Path("/code")),
                     SimpleNamespace(interpreter=lambda r: "/usr/bin/python3", executable=lambda r: None),
                     region="us-east-1", account_id="000000000000", credentials=credentials,
                     credentials_ttl=1000.0, clock=lambda: clock.now)
    version = FunctionVersion(name="f", runtime="python3.12", handler="app.handler", revision_id="rev",
                              role="arn:aws:iam::000000000000:role/r")
    first = specs.for_version(version)
    # Period 10 (10,000 / 1,000): valid to the end of period 11, so at least one full period after renewal.
    assert minted == [("arn:aws:iam::000000000000:role/r", "f", 12_000.0)]
    assert first.credentials == ("ASIA" + "A" * 16, "s" * 40, "token-1") and first.revision_id == "rev@10"
    assert not specs.rotated()
    clock.now = 10_999.0
    assert not specs.rotated() and specs.for_version(version).revision_id == "rev@10"
    clock.now = 11_000.0
    assert specs.rotated() and not specs.rotated()
    renewed = specs.for_version(version)
    assert renewed.revision_id == "rev@11" and renewed.credentials[2] == "token-3"
    assert minted[-1][2] == 13_000.0
    no_role = FunctionVersion(name="g", runtime="python3.12", handler="app.handler", revision_id="rev2")
    assert specs.for_version(no_role).credentials is None and specs.for_version(no_role).revision_id == "rev2"
