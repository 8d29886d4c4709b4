"""Console benchmark: server time to render the functions list with 1,000 functions.

Run: .venv/bin/python bench/console.py [--functions 1000] [--repeat 20]
Starts lamina, creates N functions through the API, then times `GET /console/functions` (the whole
page: 20 ListFunctions pages fetched in process through the pipeline, parsed by botocore, rendered
by Jinja2) over a keep-alive loopback connection, and, as the reference in the same run, the same
20 ListFunctions pages read by a raw HTTP client (the API work the page cannot avoid). Prints one
JSON line per figure. Target (issue 16): the page in under 300 ms.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import tempfile
import time
import zipfile

from common import ROLE, emit, lambda_call, percentile, start_lamina


def package() -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    return base64.b64encode(buffer.getvalue()).decode()


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) the process has used, in ms: the server's own work, whatever the
    machine's load adds to the wall clock."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def timed(conn: http.client.HTTPConnection, path: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status == 200, (path, response.status, body[:200])
    return elapsed, body


def list_all(conn: http.client.HTTPConnection) -> tuple[float, int]:
    started, marker, count = time.perf_counter(), None, 0
    while True:
        _, body = timed(conn, "/2015-03-31/functions" + (f"?Marker={marker}" if marker else ""))
        page = json.loads(body)
        count += len(page["Functions"])
        marker = page.get("NextMarker")
        if not marker:
            return (time.perf_counter() - started) * 1000, count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--functions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        process, port = start_lamina(data_dir)
        try:
            code = package()
            started = time.perf_counter()
            for index in range(args.functions):
                lambda_call(port, "POST", "/2015-03-31/functions", {
                    "FunctionName": f"fn-{index:04d}", "Runtime": "python3.12", "Handler": "app.handler",
                    "Role": ROLE, "Code": {"ZipFile": code}})
            emit(figure="create_functions_s", value=round(time.perf_counter() - started, 2), functions=args.functions)
            conn = http.client.HTTPConnection("127.0.0.1", port)
            _, body = timed(conn, "/console/functions")  # warm: templates compiled, models loaded
            rows = body.count(b'name="name" value="fn-')
            assert rows == args.functions, rows
            cpu = cpu_ms(process.pid)
            pages = [timed(conn, "/console/functions")[0] for _ in range(args.repeat)]
            page_cpu = (cpu_ms(process.pid) - cpu) / args.repeat
            reference = []
            cpu = cpu_ms(process.pid)
            for _ in range(args.repeat):
                elapsed, count = list_all(conn)
                assert count == args.functions
                reference.append(elapsed)
            reference_cpu = (cpu_ms(process.pid) - cpu) / args.repeat
            emit(figure="console_functions_list_ms", functions=args.functions, rows=rows,
                 p50=round(percentile(pages, 0.5), 1), p95=round(percentile(pages, 0.95), 1),
                 max=round(max(pages), 1), server_cpu_ms=round(page_cpu, 1), page_bytes=len(body), target_ms=300,
                 load_average=round(os.getloadavg()[0], 1))
            emit(figure="reference_list_functions_all_pages_ms", functions=args.functions,
                 p50=round(percentile(reference, 0.5), 1), p95=round(percentile(reference, 0.95), 1),
                 server_cpu_ms=round(reference_cpu, 1))
            search = [timed(conn, "/console/functions?q=fn-09")[0] for _ in range(args.repeat)]
            emit(figure="console_functions_search_ms", functions=args.functions,
                 p50=round(percentile(search, 0.5), 1))
            conn.close()
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
