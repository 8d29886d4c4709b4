"""Presigned code download links: valid until they expire, only for their blob and signature."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from lamina.code_links import CodeLinks

HEX = "a" * 64


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def link(links: CodeLinks, code_hex: str = HEX) -> tuple[str, str]:
    query = parse_qs(links.query(code_hex))
    return query["Expires"][0], query["Signature"][0]


def test_a_link_is_valid_until_it_expires():
    clock = Clock()
    links = CodeLinks(b"k" * 32, ttl=600, clock=clock)
    expires, signature = link(links)
    assert expires == "1000600" and links.valid(HEX, expires, signature)
    clock.now += 600
    assert links.valid(HEX, expires, signature)
    clock.now += 1
    assert not links.valid(HEX, expires, signature)


@pytest.mark.parametrize("change", ["blob", "expires", "signature", "key", "missing", "garbage"])
def test_a_changed_link_is_refused(change):
    links = CodeLinks(b"k" * 32, clock=Clock())
    expires, signature = link(links)
    code_hex = HEX
    if change == "blob":
        code_hex = "b" * 64
    elif change == "expires":
        expires = str(int(expires) + 1000)
    elif change == "signature":
        signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    elif change == "key":
        links = CodeLinks(b"j" * 32, clock=Clock())
    elif change == "missing":
        signature = None
    else:
        expires = "-5"
    assert not links.valid(code_hex, expires, signature)
