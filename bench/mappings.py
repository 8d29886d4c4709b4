"""Event source mapping benchmark: records/s from an SQS queue (a moto server) to a no-op function at
batch size 10 and 100, next to the rate a plain boto3 receive/delete loop drains the same queue in
the same run, and end-to-end latency (send → handler) p50/p99.

Run: .venv/bin/python bench/mappings.py [--messages 500] [--latency-samples 200]
Each drain is repeated --rounds times, plain and lamina alternately, and the medians compared (the
host's other load moves both). Prints one JSON line per figure. Target (DESIGN.md §10): lamina drains at ≥ 80% of the plain loop.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from common import create_function, emit, free_port, lambda_call, percentile, start_lamina, wait_http

REGION = "us-east-1"
NOOP = "def handler(event, context):\n    return None\n"
TIMED = ("import json, time\n"
         "def handler(event, context):\n"
         "    now = time.time()\n"
         "    for r in event['Records']:\n"
         "        print('LATENCY', (now - json.loads(r['body'])['t']) * 1000)\n")


MOTO_SQS = Path(__file__).resolve().parents[1] / "tests" / "moto_sqs.py"  # moto with atomic SQS queue operations


def start_moto() -> tuple[subprocess.Popen, str]:
    """The tests' moto server: plain moto_server's unlocked SQS state can hand one message to two
    receives or put a deleted message back, which would count as records processed twice."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(MOTO_SQS), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/moto-api/")
    return process, url


def fill(sqs, url: str, count: int, body=lambda i: json.dumps({"i": i})) -> None:
    for start in range(0, count, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": body(start + i)}
                                                      for i in range(min(10, count - start))])


def empty(sqs, url: str) -> bool:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def plain_drain(sqs, url: str, count: int) -> float:
    """Records/s of one boto3 loop: receive 10 (long poll), delete them in one batch."""
    done, started = 0, time.perf_counter()
    while done < count:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                            for i, m in enumerate(messages)])
            done += len(messages)
    return count / (time.perf_counter() - started)


def lamina_drain(port: int, sqs, url: str, uuid: str, count: int) -> float:
    fill(sqs, url, count)
    started = time.perf_counter()
    lambda_call(port, "PUT", f"/2015-03-31/event-source-mappings/{uuid}", {"Enabled": True})
    while not empty(sqs, url):  # sparingly: every question costs the source as much as a receive
        time.sleep(0.25)
    elapsed = time.perf_counter() - started
    lambda_call(port, "PUT", f"/2015-03-31/event-source-mappings/{uuid}", {"Enabled": False})
    return count / elapsed


def latencies(data_dir: str) -> list[float]:
    with sqlite3.connect(os.path.join(data_dir, "lamina.db")) as db:
        rows = db.execute("SELECT message FROM log_events WHERE log_group = '/aws/lambda/timed'").fetchall()
    return [float(m.split()[1]) for (m,) in rows if m.startswith("LATENCY")]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="drains of each kind; the medians are compared")
    parser.add_argument("--runtime", default="python3.12")
    parser.add_argument("--max-concurrency", type=int, default=None,
                        help="ScalingConfig.MaximumConcurrency of the mappings (default: none set)")
    args = parser.parse_args()
    moto, moto_url = start_moto()
    env = {"AWS_ENDPOINT_URL_SQS": moto_url, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": REGION}
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name=REGION, aws_access_key_id="bench",
                       aws_secret_access_key="bench")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        process, port = start_lamina(data, env)
        try:
            create_function(port, "noop", NOOP, args.runtime)
            create_function(port, "timed", TIMED, args.runtime)
            for batch_size in (10, 100):
                url = sqs.create_queue(QueueName=f"bench-{batch_size}")["QueueUrl"]
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                mapping = lambda_call(port, "POST", "/2015-03-31/event-source-mappings", {
                    "EventSourceArn": arn, "FunctionName": "noop", "BatchSize": batch_size, "Enabled": False,
                    **({"MaximumBatchingWindowInSeconds": 1} if batch_size > 10 else {}),
                    **({"ScalingConfig": {"MaximumConcurrency": args.max_concurrency}} if args.max_concurrency else {})})
                plains, rates = [], []
                for _ in range(args.rounds):  # alternated, so a busy spell of the host hits both
                    fill(sqs, url, args.messages)
                    plains.append(plain_drain(sqs, url, args.messages))
                    rates.append(lamina_drain(port, sqs, url, mapping["UUID"], args.messages))
                plain, rate = statistics.median(plains), statistics.median(rates)
                emit(figure="sqs_mapping_records_per_s", batch_size=batch_size, lamina=round(rate, 1),
                     plain_boto3_drain=round(plain, 1), ratio=round(rate / plain, 3), target=0.8,
                     messages=args.messages, rounds=args.rounds,
                     lamina_rounds=[round(r, 1) for r in rates], plain_rounds=[round(p, 1) for p in plains])

            url = sqs.create_queue(QueueName="bench-latency")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            lambda_call(port, "POST", "/2015-03-31/event-source-mappings",
                        {"EventSourceArn": arn, "FunctionName": "timed", "BatchSize": 10})
            time.sleep(1.0)
            for _ in range(args.latency_samples):
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"t": time.time()}))
                time.sleep(0.01)
            deadline = time.monotonic() + 60
            while len(latencies(data)) < args.latency_samples and time.monotonic() < deadline:
                time.sleep(0.2)
            samples = latencies(data)
            emit(figure="sqs_mapping_latency_ms", batch_size=10, samples=len(samples),
                 p50=round(percentile(samples, 0.5), 1), p99=round(percentile(samples, 0.99), 1))
        finally:
            process.terminate()
            process.wait(timeout=30)
            moto.terminate()
            moto.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
