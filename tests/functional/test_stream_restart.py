"""A stream mapping survives a SIGKILL of lamina: after the restart it resumes from the checkpoint
in its database, and every record reaches the function (duplicates allowed, none skipped)."""

from __future__ import annotations

import signal

from streams_kit import ENV, Witness, aws, delivered, make_functions, new_stream, put

from support import LaminaProcess, client_for, source_env


def test_sigkill_mid_stream_then_restart_skips_no_record(tmp_path, moto_server):
    data_dir = tmp_path / "data"
    env = {**source_env(moto_server), **ENV}
    kinesis, witness = aws(moto_server, "kinesis"), Witness(aws(moto_server, "sqs"), "restart-witness")
    arn = new_stream(kinesis, "durable", shards=2)
    sent = put(kinesis, "durable", [(f"key-{n % 5}", f"item-{n}") for n in range(200)])
    first = LaminaProcess(data_dir, env=env).start()
    try:
        lam = client_for(first.url)
        make_functions(lam, witness, moto_server)
        lam.create_event_source_mapping(FunctionName="slow", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                        BatchSize=5)
        witness.until(lambda seen: len(delivered(seen, arn)) >= 40)
    finally:
        first.stop(signal.SIGKILL)
    seen_before = {r["eventID"] for r in delivered(witness.drain(), arn)}
    assert seen_before < set(sent), "the kill came after everything was delivered: nothing was tested"
    sent |= put(kinesis, "durable", [(f"key-{n % 5}", f"late-{n}") for n in range(20)])  # while lamina is down
    second = LaminaProcess(data_dir, env=env).start()
    try:
        restarted_at = len(witness.seen)
        witness.until(lambda seen: {r["eventID"] for r in delivered(seen, arn)} >= set(sent), timeout=120)
        resumed = delivered(witness.seen[restarted_at:], arn)
        # It resumed from the checkpoint, not from the start: most records came once only.
        assert len(resumed) < len(sent)
    finally:
        second.stop()
