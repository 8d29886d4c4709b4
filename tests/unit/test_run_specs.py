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
