"""The managed Python runtime's JSON: `_lamina_channel.loads` (the INVOKE header and the event)
gives what json.loads gives, value or exception, and results are encoded as before (Decimals
spliced in as digits, with an encoder made once)."""

from __future__ import annotations

import decimal
import json
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src" / "lamina" / "runtimes" / "python"))

import _lamina_channel as channel  # noqa: E402
import _lamina_marshal as marshal  # noqa: E402

DOCUMENTS = [
    b'{"id":"a","deadline":1,"trace":"Root=1-x"}', b"{}", b"[]", b"1", b"-1.5e3", b'"s"', b"null", b"NaN",
    b"Infinity", b' {"a": 1}', b'{"a": 1}\n', b"\t[1]\r\n", b"\xef\xbb\xbf{}", b"\xef\xbb\xbf",
    '{"é": "ü"}'.encode(), "{}".encode("utf-16"), "{}".encode("utf-16-le"), "[1]".encode("utf-32"),
    b'"\xed\xa0\x80"', b'"\\ud800"', b"", b" ", b"{", b"{}x", b"{} {}", b"[1,]", b'{"a":1,}', b"\x00",
    b"\xff", b'"a\x01"', b"[" * 100 + b"]" * 100, b"1" * 5000, b"{}\xef\xbb\xbf",
    "{}", " [] ", "\ufeff{}", "", '"\ud800"', '{"a": [1, 2.5, true, false, null]}',
]


def _outcome(call, data):
    try:
        return "value", call(data)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome compared
        return type(exc), str(exc)


@pytest.mark.parametrize("data", DOCUMENTS, ids=repr)
def test_loads_is_json_loads(data):
    got, want = _outcome(channel.loads, data), _outcome(json.loads, data)
    if got[0] == "value" and want[0] == "value" and got[1] != got[1]:  # NaN
        assert want[1] != want[1]
    else:
        assert got == want


def test_loads_takes_what_json_loads_takes():
    assert channel.loads(bytearray(b'{"a":1}')) == {"a": 1}
    with pytest.raises(TypeError):
        channel.loads(None)


def test_an_invalid_event_is_reported_with_json_loads_message():
    with pytest.raises(marshal.FaultException) as caught:
        marshal.unmarshal_request(b"{nope")
    assert caught.value.msg == "Unable to unmarshal input: Expecting property name enclosed in double quotes: " \
                               "line 1 column 2 (char 1)"


@pytest.mark.parametrize(("value", "text"), [
    ({"a": decimal.Decimal("1.10")}, '{"a": 1.10}'),
    ([decimal.Decimal("NaN"), 1, "x"], '[NaN, 1, "x"]'),
    ({"é": "ü"}, '{"é": "ü"}' if sys.version_info >= (3, 12) else '{"\\u00e9": "\\u00fc"}'),
    ({}, "{}"),
])
def test_results_are_encoded_as_before(value, text):
    assert marshal.to_json(value) == text
    assert marshal.to_json(value) == text  # the encoder is reused: nothing carries over


def test_a_result_that_cannot_be_encoded_gets_json_message():
    with pytest.raises(marshal.FaultException) as caught:
        marshal.marshal_response({"a": object()})
    assert caught.value.msg == "Unable to marshal response: Object of type object is not JSON serializable"


def test_encodes_in_threads_splice_only_their_own_decimals():
    results = []

    def encode():
        for _ in range(200):
            results.append(marshal.to_json({"d": decimal.Decimal("2.5"), "s": "x"}))

    threads = [threading.Thread(target=encode) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(results) == {'{"d": 2.5, "s": "x"}'}
