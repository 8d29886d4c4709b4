"""The Link's shortcuts through nats-py (no sockets): messages of direct subscriptions reach their
handler from the read loop as plain strings and bytes (a no-responders status as headers), never
after unsubscribing, and a handler's error does not end the read loop; `send_now` writes what the
flusher had not written yet, then the PUB, and declines while not connected (Link.publish then goes
nats-py's way). These are the nats-py 2.16 internals the Link relies on."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client

from lamina.cluster.link import Link, LinkClient


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def writelines(self, lines) -> None:
        self.written.extend(lines)


def _client(*sids: int) -> tuple[LinkClient, list]:
    client, seen = LinkClient(), []
    for sid in sids:
        client._subs[sid] = object()
        client.direct(sid, lambda *args: seen.append(args))
    return client, seen


def test_a_direct_subscription_gets_its_messages_in_the_read_loop():
    client, seen = _client(7)
    asyncio.run(client._process_msg(7, b"t.reply.f.1a", b"t.back", b"data", b""))
    assert seen == [("t.reply.f.1a", "t.back", b"data", None)]
    assert client.stats["in_msgs"] == 1


def test_no_responders_arrive_as_a_status_header():
    client, seen = _client(7)
    asyncio.run(client._process_msg(7, b"t.reply.f.1a", b"", b"", b"NATS/1.0 503\r\n\r\n"))
    assert seen[0][3]["Status"] == "503"


def test_an_unsubscribed_sid_is_not_handled_any_more():
    client, seen = _client(7)
    del client._subs[7]
    asyncio.run(client._process_msg(7, b"t.run.w", b"", b"data", b""))
    assert seen == [] and 7 not in client._direct


def test_a_failing_handler_does_not_end_the_read_loop():
    client = LinkClient()
    client._subs[3] = object()

    def fails(*_):
        raise RuntimeError("boom")

    client.direct(3, fails)
    asyncio.run(client._process_msg(3, b"s", b"", b"x", b""))


def test_send_now_writes_pending_commands_first_then_the_message():
    client = LinkClient()
    client._status, client._transport = Client.CONNECTED, Transport()
    client._pending, client._pending_data_size = [b"SUB a 1\r\n"], 9
    assert client.send_now("t.run.w", b"hello", "t.reply.f.1")
    assert client._transport.written == [b"SUB a 1\r\n", b"PUB t.run.w t.reply.f.1 5\r\nhello\r\n"]
    assert client._pending == [] and client._pending_data_size == 0


def test_send_now_declines_while_not_connected_and_publish_goes_the_ordinary_way():
    client = LinkClient()
    client._status, client._transport = Client.RECONNECTING, Transport()
    assert not client.send_now("s", b"x")
    published = []

    async def publish(subject, data, reply=""):
        published.append((subject, data, reply))

    client.publish = publish
    asyncio.run(Link.of(client).publish("s", b"x", "r"))
    assert published == [("s", b"x", "r")] and client._transport.written == []
