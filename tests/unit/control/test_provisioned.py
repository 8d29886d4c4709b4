"""lamina.control.provisioned: the share of the account's unreserved pool provisioning may take."""

import pytest

from lamina.control.provisioned import leaves_unreserved_minimum


@pytest.mark.parametrize(("unreserved", "pooled", "requested", "ok"), [
    (1000, 0, 900, True),
    (1000, 0, 901, False),
    (1000, 800, 100, True),
    (1000, 800, 101, False),
    (1000, 0, 2**63, False),
    (100, 0, 1, False),  # an account of 100 (or less) can provision nothing from its pool
])
def test_provisioning_keeps_the_unreserved_minimum(unreserved, pooled, requested, ok):
    assert leaves_unreserved_minimum(unreserved, pooled, requested) is ok
