"""Table tests of the RabbitMQ event's pure parts: timestamps, headers, virtual hosts."""

from __future__ import annotations

import datetime as dt

import pytest

from lamina.pollers import mq


@pytest.mark.parametrize("value, text", [
    (dt.datetime(1970, 1, 1, 0, 33, 41, tzinfo=dt.UTC), "Jan 1, 1970, 12:33:41 AM"),
    (dt.datetime(2024, 11, 30, 13, 5, 9, tzinfo=dt.UTC), "Nov 30, 2024, 1:05:09 PM"),
    (dt.datetime(2024, 6, 1, 12, 0, 0), "Jun 1, 2024, 12:00:00 PM"),
    (None, None),
])
def test_timestamps(value, text):
    assert mq.rmq_timestamp(value) == text


def test_headers():
    assert mq.header_value({"s": "va", "b": b"\x01", "n": 3, "f": 1.5, "t": True, "l": ["x"], "m": {"k": "v"}}) == {
        "s": {"bytes": [118, 97]}, "b": {"bytes": [1]}, "n": 3, "f": 1.5, "t": True, "l": [{"bytes": [120]}],
        "m": {"k": {"bytes": [118]}}}


@pytest.mark.parametrize("url, vhost, out_url, out_vhost", [
    ("amqp://u:p@h:5672/", None, "amqp://u:p@h:5672/", "/"),
    ("amqp://u:p@h:5672/", "/", "amqp://u:p@h:5672/%2F", "/"),
    ("amqp://u:p@h:5672/prod", None, "amqp://u:p@h:5672/prod", "prod"),
    ("amqp://u:p@h:5672/", "dev", "amqp://u:p@h:5672/dev", "dev"),
])
def test_virtual_hosts(url, vhost, out_url, out_vhost):
    assert mq.broker_url(url, vhost) == out_url
    assert mq.virtual_host_of(url, vhost) == out_vhost
