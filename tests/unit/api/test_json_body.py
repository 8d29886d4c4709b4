"""lamina.api.json_body: one strict-JSON rule for every request body."""

from __future__ import annotations

import json

import pytest

from lamina.api.json_body import Malformed, decode


@pytest.mark.parametrize(("body", "value"), [
    (b'{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}),
    (b'"\\ud83d\\ude00"', "\U0001f600"),  # a surrogate pair is one character
    ('"é€"'.encode(), "é€"),
    (b'"\\\\ud800"', "\\ud800"),  # an escaped backslash, not a surrogate escape
    (b"[" * 200 + b"]" * 200, json.loads(b"[" * 200 + b"]" * 200)),
    (b" 7 ", 7),
])
def test_strict_json_decodes(body, value):
    assert decode(body) == value


@pytest.mark.parametrize(("body", "detail"), [
    (b"NaN", "Non-standard token 'NaN'"),
    (b'{"a": -Infinity}', "Non-standard token '-Infinity'"),
    (b'\xef\xbb\xbf{}', "Unexpected byte-order mark"),
    ('{}'.encode("utf-16"), "Invalid UTF-8 byte 0xff at offset 0"),
    (b'"\xed\xa0\x80"', "Invalid UTF-8 byte 0xed at offset 1"),  # a surrogate encoded in UTF-8
    (b'"\\ud800"', "Invalid UTF-16: lone surrogate '\\ud800'"),
    (b'{"\\udfff": 1}', "Invalid UTF-16: lone surrogate '\\udfff'"),
    (b'[{"a": ["ok", "\\ud83dx"]}]', "Invalid UTF-16: lone surrogate '\\ud83d'"),
    (b"[" * 100_000, "Maximum nesting depth exceeded"),
    (b"{", "Expecting property name"),
    (b"1" * 5000, "Exceeds the limit"),
])
def test_everything_else_is_malformed(body, detail):
    with pytest.raises(Malformed) as info:
        decode(body)
    assert detail in str(info.value)


_TEXTS = ["{}", "[]", "0", "-1.5e3", '"x"', "true", "null", '{"a":{"b":[1,{"c":null}]}}', " {}", "{} ", "\t[1]\n",
          "\r\n7", "{}x", "{} {}", "[1,]", "01", '"unterminated', "[1", "nan", "NaN", "-Infinity", "Infinity",
          "[NaN]", '{"a": Infinity}', "", " ", "\n", "1" * 5000, "[" * 3000 + "]" * 3000, "[" * 100_000, "\u00a0{}"]


@pytest.mark.parametrize("text", _TEXTS)
def test_the_scanner_shortcut_answers_as_the_strict_decoder(text):
    """decode takes the C scanner directly for a value without whitespace around it: every text
    gets the same value, or the same Malformed, as the whole decoder gives."""
    from lamina.api.json_body import _strict

    try:
        expected: object = ("value", _strict(text))
    except Malformed as error:
        expected = ("malformed", str(error))
    try:
        got: object = ("value", decode(text.encode()))
    except Malformed as error:
        got = ("malformed", str(error))
    assert got == expected
