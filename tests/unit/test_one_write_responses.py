"""The HTTP server's one-write responses: a response's head is held until its first body part and
both leave in one write; a head no body follows in the same loop turn, or a close, sends it alone."""

import asyncio

from transport_fakes import Transport

from lamina.http_server import _HeadHeld


class Cycle:
    response_started = False


def held(loop):
    transport, cycle = Transport(), Cycle()
    return transport, cycle, _HeadHeld(transport, cycle, loop)


def test_head_and_body_leave_in_one_write():
    loop = asyncio.new_event_loop()
    try:
        transport, cycle, view = held(loop)
        cycle.response_started = True
        view.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        assert transport.writes == []
        view.write(b"{}")
        assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
        view.write(b"more")  # later parts pass through
        loop.run_until_complete(asyncio.sleep(0))  # the scheduled flush finds nothing left
        assert transport.writes[1:] == [b"more"]
    finally:
        loop.close()


def test_a_large_body_goes_out_beside_the_head_in_the_same_call():
    loop = asyncio.new_event_loop()
    try:
        transport, cycle, view = held(loop)
        cycle.response_started = True
        view.write(b"HEAD\r\n\r\n")
        view.write(b"x" * 100_000)
        assert transport.writes == [b"HEAD\r\n\r\n" + b"x" * 100_000]
    finally:
        loop.close()


def test_a_head_without_a_body_in_the_same_turn_goes_out_at_its_end():
    loop = asyncio.new_event_loop()
    try:
        transport, cycle, view = held(loop)
        cycle.response_started = True
        view.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        loop.run_until_complete(asyncio.sleep(0))
        assert transport.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]
        view.write(b"5\r\nfirst\r\n")
        assert transport.writes[1:] == [b"5\r\nfirst\r\n"]
    finally:
        loop.close()


def test_close_sends_the_held_head_first():
    loop = asyncio.new_event_loop()
    try:
        transport, cycle, view = held(loop)
        cycle.response_started = True
        view.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        view.close()
        assert transport.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"] and transport.closed
    finally:
        loop.close()


def test_writes_before_the_response_starts_are_not_held():
    loop = asyncio.new_event_loop()
    try:
        transport, cycle, view = held(loop)
        view.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # uvicorn's answer to Expect: 100-continue
        assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        assert view.is_closing() is False  # anything else is the transport's
    finally:
        loop.close()
