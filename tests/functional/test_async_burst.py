"""A burst of Event invokes through a real server and real sandboxes: while it is accepted the
queue's consumers defer to the front door (lamina.queue.priority), and afterwards every accepted
event runs, exactly once, with its own request id and payload."""

from __future__ import annotations

import http.client
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from support import ROLE, LaminaProcess, client_for, make_zip

APP = '''
def handler(event, context):
    print("RAN", context.aws_request_id, event["client"], event["n"])
'''
CLIENTS, EACH = 8, 150


def ran(data_dir) -> list[tuple[str, int, int]]:
    with sqlite3.connect(data_dir / "lamina.db") as db:
        lines = [m for (m,) in db.execute(
            "SELECT message FROM log_events WHERE log_group = '/aws/lambda/burst' AND message LIKE 'RAN %'")]
    return [(fields[1], int(fields[2]), int(fields[3])) for fields in (line.split() for line in lines)]


def test_a_burst_of_events_is_all_accepted_and_every_one_runs_once(tmp_path):
    server = LaminaProcess(tmp_path / "data").start()
    try:
        lam = client_for(server.url)
        lam.create_function(FunctionName="burst", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": APP})})
        lam.get_waiter("function_active_v2").wait(FunctionName="burst")
        address = urlsplit(server.url)

        def send(client: int) -> list[tuple[str, int, int]]:
            conn, sent = http.client.HTTPConnection(address.hostname, address.port), []
            for n in range(EACH):  # back to back on one keep-alive connection, as a busy sender does
                conn.request("POST", "/2015-03-31/functions/burst/invocations",
                             body=json.dumps({"client": client, "n": n}),
                             headers={"X-Amz-Invocation-Type": "Event"})
                response = conn.getresponse()
                response.read()
                assert response.status == 202
                sent.append((response.getheader("x-amzn-requestid"), client, n))
            conn.close()
            return sent

        with ThreadPoolExecutor(CLIENTS) as pool:
            accepted = [event for sent in pool.map(send, range(CLIENTS)) for event in sent]
        deadline, found = time.monotonic() + 120, []
        while time.monotonic() < deadline and len(found) < len(accepted):
            time.sleep(0.5)
            found = ran(server.data_dir)
        time.sleep(1.0)  # nothing runs twice after the last one
        found = ran(server.data_dir)
        assert server.health()["counts"]["queuedEvents"] == 0
    finally:
        server.stop()
    assert len(accepted) == CLIENTS * EACH
    assert sorted(found) == sorted(accepted)  # each accepted event ran once, with its own id and payload
