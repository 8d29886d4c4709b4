"""Stream mapping benchmark: records/s from a Kinesis stream (a moto server) to a no-op function at
batch size 10 and 100, next to the rate a plain boto3 GetRecords loop (Limit 1,000, what lamina asks
for too) reads the same shard in the same run (medians of alternated rounds).

Run: .venv/bin/python bench/streams.py [--records 1000]
Prints one JSON line per figure. Target (DESIGN.md §10): lamina reaches ≥ 80% of the plain loop.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.request

import boto3
from common import create_function, emit, lambda_call, start_lamina
from mappings import REGION, start_moto

NOOP = "def handler(event, context):\n    return None\n"


def fill(kinesis, name: str, count: int) -> None:
    for start in range(0, count, 500):
        kinesis.put_records(StreamName=name, Records=[{"PartitionKey": str(i), "Data": b'{"i": %d}' % i}
                                                      for i in range(start, min(count, start + 500))])


def plain_read(kinesis, name: str, count: int, limit: int) -> float:
    """Records/s of one boto3 loop reading the shard from its start, `limit` records per call."""
    started = time.perf_counter()
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    done = 0
    while done < count:
        answer = kinesis.get_records(ShardIterator=iterator, Limit=limit)
        done += len(answer["Records"])
        iterator = answer["NextShardIterator"]
    return count / (time.perf_counter() - started)


def delivered(port: int, uuid: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    pattern = r'lamina_mapping_records_total\{[^}]*mapping="' + re.escape(uuid) + r'"[^}]*\} ([0-9.e+]+)'
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runtime", default="python3.12")
    args = parser.parse_args()
    moto, moto_url = start_moto()
    env = {"AWS_ENDPOINT_URL_KINESIS": moto_url, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": REGION, "LAMINA_STREAM_POLL_INTERVAL": "0.05"}
    kinesis = boto3.client("kinesis", endpoint_url=moto_url, region_name=REGION, aws_access_key_id="bench",
                           aws_secret_access_key="bench")
    with tempfile.TemporaryDirectory() as tmp:
        process, port = start_lamina(os.path.join(tmp, "data"), env)
        try:
            create_function(port, "noop", NOOP, args.runtime)
            # The bound at small batches: one synchronous invoke per batch, one after another per shard.
            started = time.perf_counter()
            for _ in range(100):
                lambda_call(port, "POST", "/2015-03-31/functions/noop/invocations", {"Records": []})
            emit(figure="sequential_sync_invokes_per_s", rate=round(100 / (time.perf_counter() - started), 1))
            for batch_size in (10, 100):
                plains, laminas = [], []
                for round_ in range(args.rounds):  # alternated: the shared host's load swings a lot
                    name = f"bench-{batch_size}-{round_}"
                    kinesis.create_stream(StreamName=name, ShardCount=1)
                    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})
                    arn = kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]
                    fill(kinesis, name, args.records)
                    plains.append(plain_read(kinesis, name, args.records, 1000))
                    started = time.perf_counter()
                    mapping = lambda_call(port, "POST", "/2015-03-31/event-source-mappings", {
                        "EventSourceArn": arn, "FunctionName": "noop", "BatchSize": batch_size,
                        "StartingPosition": "TRIM_HORIZON"})
                    deadline = time.monotonic() + 300
                    while delivered(port, mapping["UUID"]) < args.records and time.monotonic() < deadline:
                        time.sleep(0.02)
                    laminas.append(args.records / (time.perf_counter() - started))
                    lambda_call(port, "DELETE", f"/2015-03-31/event-source-mappings/{mapping['UUID']}")
                plain, rate = statistics.median(plains), statistics.median(laminas)
                emit(figure="kinesis_mapping_records_per_s", batch_size=batch_size, lamina=round(rate, 1),
                     plain_boto3_read=round(plain, 1), ratio=round(rate / plain, 3), target=0.8,
                     records=args.records, rounds=args.rounds)
        finally:
            process.terminate()
            process.wait(timeout=30)
            moto.terminate()
            moto.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
