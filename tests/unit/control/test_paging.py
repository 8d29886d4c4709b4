"""lamina.control.paging: marker paging in memory."""

import pytest

from lamina.control.paging import page

ITEMS = [f"i{n:03d}" for n in range(120)]


@pytest.mark.parametrize(("params", "first", "count", "next_marker"), [
    ({}, "i000", 50, "i049"),
    ({"MaxItems": 10}, "i000", 10, "i009"),
    ({"MaxItems": 500}, "i000", 50, "i049"),
    ({"Marker": "i049"}, "i050", 50, "i099"),
    ({"Marker": "i099"}, "i100", 20, None),
    ({"Marker": "i119"}, None, 0, None),
])
def test_page(params, first, count, next_marker):
    items, marker = page(ITEMS, params, key=lambda item: item)
    assert len(items) == count and (items[0] if items else None) == first and marker == next_marker


def test_walking_every_page_returns_each_item_once():
    seen, marker = [], None
    while True:
        items, marker = page(ITEMS, {"Marker": marker, "MaxItems": 7}, key=lambda item: item)
        seen += items
        if marker is None:
            break
    assert seen == ITEMS
