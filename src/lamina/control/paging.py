"""Marker paging of the list operations that page in memory: items after Marker, at most
MaxItems (capped at 50, as AWS caps most Lambda list calls), and the next page's marker.

Pure; imports nothing from lamina.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

LIST_PAGE_CAP = 50
Item = TypeVar("Item")


def page(items: Sequence[Item], params: dict, *, key: Callable[[Item], str],
         cap: int = LIST_PAGE_CAP) -> tuple[list[Item], str | None]:
    """`items` must be ordered by `key`; the marker is the key of the last item returned."""
    marker = params.get("Marker")
    if marker:
        items = [item for item in items if key(item) > marker]
    limit = min(params.get("MaxItems") or cap, cap)
    next_marker = key(items[limit - 1]) if len(items) > limit else None
    return list(items[:limit]), next_marker
