"""The consumers of a function's queued events ramp up under a backlog (lamina.queue.ramp), through a
real server and real sandboxes: a burst starts with two at once, grows while the backlog persists,
and every accepted event runs."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

from support import ROLE, LaminaProcess, client_for, make_zip

APP = '''
import time

def handler(event, context):
    start = time.time()
    time.sleep(0.3)
    print("SPAN", context.aws_request_id, start, time.time())
'''
EVENTS = 40


def spans(data_dir) -> dict[str, tuple[float, float]]:
    with sqlite3.connect(data_dir / "lamina.db") as db:
        lines = [m for (m,) in db.execute(
            "SELECT message FROM log_events WHERE log_group = '/aws/lambda/spans' AND message LIKE 'SPAN %'")]
    return {fields[1]: (float(fields[2]), float(fields[3])) for fields in (line.split() for line in lines)}


def overlap(at: float, found: dict[str, tuple[float, float]]) -> int:
    return sum(start <= at < end for start, end in found.values())


def test_a_burst_starts_two_consumers_then_more_and_every_event_runs(tmp_path):
    server = LaminaProcess(tmp_path / "data").start()
    try:
        lam = client_for(server.url)
        lam.create_function(FunctionName="spans", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Timeout=10, Code={"ZipFile": make_zip({"app.py": APP})})
        lam.get_waiter("function_active_v2").wait(FunctionName="spans")

        def send(index: int) -> str:
            response = lam.invoke(FunctionName="spans", InvocationType="Event", Payload=b'{"i": %d}' % index)
            assert response["StatusCode"] == 202
            return response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]

        with ThreadPoolExecutor(8) as pool:
            accepted = set(pool.map(send, range(EVENTS)))
        deadline, found = time.monotonic() + 120, {}
        while time.monotonic() < deadline and len(found) < EVENTS:
            time.sleep(0.5)
            found = spans(server.data_dir)
    finally:
        server.stop()
    assert set(found) == accepted  # every accepted event ran
    first_end = min(end for _, end in found.values())
    started_before = sum(start < first_end for start, _ in found.values())
    assert started_before <= 2, f"{started_before} events started before the first one finished"
    peak = max(overlap(start, found) for start, _ in found.values())
    assert peak > 2, f"at most {peak} ran at once"  # the share grew (2 → 4 → 8 ...) while the backlog lasted
