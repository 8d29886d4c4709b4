"""An Event invoke's trace: what the invoker stores with the queued event (the caller's
X-Amzn-Trace-Id Root and decision when well-formed, a new Root for an Active function, else nothing)
and what each attempt of it runs with (that Root, a new Parent per attempt), through a real Invoker
with the queue and the engine as plain functions."""

from __future__ import annotations

import asyncio
import re

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from lamina.admission import Admission
from lamina.engine.spec import InvokeResult
from lamina.invoke import Invocation, Invoker
from lamina.model import LATEST, FunctionVersion
from lamina.queue.queue import QueuedEvent
from lamina.telemetry.tracing import Tracing, otel_trace_id

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
CALLER_PARENT = "53995c3f42cd8ad8"
HEADER = re.compile(r"Root=(1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24});Parent=([0-9a-f]{16});Sampled=([01])")


def run_event_invoke(caller_trace: str | None, mode: str, tracing_on: bool, attempts: int = 2):
    """(what was enqueued, the trace header each attempt ran with, spans recorded)."""
    version = FunctionVersion(name="f", version=LATEST, state="Active", state_reason=None, state_reason_code=None,
                              tracing_mode=mode)
    exporter = InMemorySpanExporter()
    tracing = Tracing(endpoint=None, exporter=exporter) if tracing_on else None
    enqueued: list[dict] = []
    seen: list[str | None] = []

    async def enqueue(**fields):
        enqueued.append(fields)

    async def run(spec, request):
        seen.append(request.trace_id)
        return InvokeResult(payload=b"null", executed_version=LATEST, function_error="Unhandled")

    invoker = Invoker(region="us-east-1", account_id="000000000000", lookup=lambda name, v: version,
                      alias_of=lambda name, a: None, spec_for=lambda v: "spec", run=run, admission=Admission(1000),
                      enqueue=enqueue, tracing=tracing)

    async def main():
        outcome = await invoker.invoke(Invocation("f", None, b"{}", invocation_type="Event",
                                                  caller_trace=caller_trace))
        assert outcome.status == 202 and seen == []
        (fields,) = enqueued
        for runs in range(attempts):  # the first attempt and its retries: the same stored event
            event = QueuedEvent(runs + 1, fields["request_id"], fields["function_name"], fields["qualifier"],
                                fields["payload"], 1_700_000_000.0, 1_700_000_000.0, runs, 0, fields["trace"])
            await invoker.run_event(event)
        await asyncio.sleep(0)  # spans are recorded just after the answer

    asyncio.run(main())
    spans = []
    if tracing is not None:
        tracing.close()
        spans = exporter.get_finished_spans()
    return enqueued[0]["trace"], seen, spans


@pytest.mark.parametrize(("caller", "mode", "tracing_on", "stored", "decision"), [
    # a caller's well-formed header: its Root and decision, whatever the function's mode
    (f"Root={ROOT};Parent={CALLER_PARENT};Sampled=1", "PassThrough", False, f"Root={ROOT};Sampled=1", "1"),
    (f"Root={ROOT};Parent={CALLER_PARENT};Sampled=0", "Active", True, f"Root={ROOT};Sampled=0", "0"),
    (f"Root={ROOT};Parent={CALLER_PARENT}", "PassThrough", False, f"Root={ROOT}", "0"),  # no decision: not sampled
    (f"Root={ROOT}", "Active", True, f"Root={ROOT}", "1"),  # no decision: an Active function samples
    (f"Root={ROOT}", "Active", False, f"Root={ROOT}", "0"),  # Active, but spans go nowhere
    (f"Parent={CALLER_PARENT};Root={ROOT.upper()};Sampled=1", "PassThrough", False,
     f"Root={ROOT.upper()};Sampled=1", "1"),
    # malformed or absent: ignored; an Active function's own trace begins at acceptance
    ("Root=1-5759e988-nothex;Sampled=1", "PassThrough", False, None, None),
    ("Root=1-5759e988-nothex;Sampled=1", "Active", True, "new", "1"),
    ("garbage", "Active", False, None, None),
    (None, "PassThrough", True, None, None),
    (None, "Active", True, "new", "1"),
])
def test_an_event_invoke_keeps_its_trace_through_the_queue(caller, mode, tracing_on, stored, decision):
    kept, seen, spans = run_event_invoke(caller, mode, tracing_on)
    if stored is None:
        assert kept is None and seen == [None, None]
        assert list(spans) == []
        return
    if stored == "new":
        assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Sampled=1", kept) and ROOT not in kept
    else:
        assert kept == stored
    root = kept.split(";")[0].removeprefix("Root=")
    attempts = [HEADER.fullmatch(header or "") for header in seen]
    assert all(attempts), seen
    assert [(match[1], match[3]) for match in attempts] == [(root, decision)] * 2  # retries keep the Root
    parents = {match[2] for match in attempts}
    assert len(parents) == 2 and CALLER_PARENT not in parents  # each attempt is its own Parent
    if mode == "Active" and tracing_on and decision == "1":
        assert {span.context.trace_id for span in spans} == {int(otel_trace_id(seen[0]), 16)}
        assert {f"{span.context.span_id:016x}" for span in spans if span.name == "f"} == parents
        assert {span.name for span in spans} == {"f", "queue wait", "invoke"}
    else:
        assert list(spans) == []
