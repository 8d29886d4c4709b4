"""One environment's log stream (lamina.engine.logstream): lines, records, batching, tail."""

from __future__ import annotations

from lamina.engine.logstream import MAX_EVENT_BYTES, PROCESS, PROGRAM, LogStream


def make():
    batches, dirty = [], []
    return LogStream("/aws/lambda/f", "2024/01/01/[$LATEST]x", batches.append, dirty.append), batches, dirty


def messages(batches):
    return [event.message for batch in batches for event in batch.events]


def test_output_is_split_into_lines_across_writes():
    stream, batches, _ = make()
    for chunk in (b"hel", b"lo\nwor", b"ld\n\nlast", b" bit\n"):
        stream.output(chunk)
    stream.flush()
    assert messages(batches) == ["hello\n", "world\n", "\n", "last bit\n"]  # AWS keeps each newline


def test_sources_keep_their_own_partial_lines():
    stream, batches, _ = make()
    stream.output(b"program ", PROGRAM)
    stream.output(b"process\n", PROCESS)
    stream.output(b"line\n", PROGRAM)
    stream.flush()
    assert messages(batches) == ["process\n", "program line\n"]


def test_records_are_one_event_each_with_their_newline():
    stream, batches, _ = make()
    stream.record(b"[INFO]\t2024-01-01T00:00:00.000Z\tr\tmulti\nline\n")
    stream.record(b"[ERROR] E: m\rTraceback (most recent call last):\r\xc2\xa0\xc2\xa0File x\n")
    stream.flush()
    assert messages(batches) == ["[INFO]\t2024-01-01T00:00:00.000Z\tr\tmulti\nline\n",
                                 "[ERROR] E: m\rTraceback (most recent call last):\r\u00a0\u00a0File x\n"]


def test_end_of_output_flushes_unterminated_text():
    stream, batches, _ = make()
    stream.output(b"no newline")
    stream.line("END RequestId: r")  # platform lines do not wait for partial output...
    stream.end_of_output()  # ...which the environment flushes before END
    stream.flush()
    assert messages(batches) == ["END RequestId: r", "no newline"]


def test_overlong_lines_are_cut_into_event_sized_pieces_on_character_boundaries():
    stream, batches, _ = make()
    stream.output(b"a" * (MAX_EVENT_BYTES - 1) + "é".encode() + b"tail\n")
    stream.flush()
    events = messages(batches)
    assert events == ["a" * (MAX_EVENT_BYTES - 1), "étail\n"]
    stream.output(b"b" * MAX_EVENT_BYTES)
    stream.output(b"\n")  # ends the line that was already cut: no empty event
    stream.output(b"\n")  # a genuine empty line
    stream.flush()
    assert messages(batches)[2:] == ["b" * MAX_EVENT_BYTES, "\n"]


def test_events_are_batched_until_flush_and_the_first_marks_the_stream_dirty():
    stream, batches, dirty = make()
    stream.line("START")
    stream.line("x")
    assert batches == [] and dirty == [stream]
    stream.flush()
    assert len(batches) == 1 and [e.message for e in batches[0].events] == ["START", "x"]
    assert batches[0].group == "/aws/lambda/f" and batches[0].stream == "2024/01/01/[$LATEST]x"
    stream.flush()
    assert len(batches) == 1  # nothing pending, nothing sent
    stream.line("again")
    assert dirty == [stream, stream]


def test_tail_keeps_only_the_captured_invocations_last_lines():
    stream, _, _ = make()
    stream.line("before")
    stream.capture()
    for i in range(2000):
        stream.line(f"line {i}")
    tail = stream.captured()
    assert tail[-1] == "line 1999" and "before" not in tail
    assert 4096 <= sum(len(line) + 1 for line in tail) < 4096 + 20
    assert stream.captured() is None


def test_a_failing_sink_does_not_break_the_stream():
    def broken(batch):
        raise RuntimeError("disk full")
    stream = LogStream("g", "s", broken)
    stream.line("x")
    stream.flush()
    stream.line("y")


def test_application_output_is_handed_on_live_and_the_end_flush_cancels_the_timer():
    import asyncio

    async def scenario():
        stream, batches, _ = make()
        stream.line("START RequestId: r Version: $LATEST")
        stream.output(b"first\n")
        stream.output(b"partial")
        await asyncio.sleep(0.25)
        assert messages(batches) == ["START RequestId: r Version: $LATEST", "first\n"]  # one batch, line only
        assert len(batches) == 1
        stream.output(b" line\n")
        stream.record(b"[INFO]\trecord\n")
        stream.line("END RequestId: r")
        stream.flush()  # the invocation's END flush: no extra batch afterwards
        await asyncio.sleep(0.25)
        assert len(batches) == 2
        assert messages(batches)[2:] == ["partial line\n", "[INFO]\trecord\n", "END RequestId: r"]

    asyncio.run(scenario())
