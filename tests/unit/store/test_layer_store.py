"""lamina.store.layers on a real SQLite file."""

import pytest

from lamina.model import LayerVersion
from lamina.store.database import open_database
from lamina.store.layers import LayerStore


@pytest.mark.parametrize("number", [2**63, 10**30, -(2**63) - 1])
def test_versions_beyond_64_bits_do_not_exist(db_url, number):
    layers = LayerStore(open_database(db_url))
    layers.publish(LayerVersion(name="l", version=0))
    assert layers.get("l", number) is None
    assert layers.delete("l", number) is None
    assert layers.get("l", 1) is not None
