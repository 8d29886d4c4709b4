"""The moto server the mapping tests read (tests/moto_sqs.py) keeps SQS's FIFO promise that lamina's
poller relies on, as AWS's does: under concurrent receives, a message group is in flight in one
receive at a time. (moto's own server broke it in about one round in ten, more under load.)"""

from __future__ import annotations

import threading

import boto3
import pytest

from support import REGION

ROUNDS = 40
RECEIVERS = 5


def client(url: str):
    return boto3.client("sqs", endpoint_url=url, region_name=REGION, aws_access_key_id="test",
                        aws_secret_access_key="test")


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_fifo_group_is_in_flight_in_one_receive_at_a_time(moto_server, round_):
    sqs = client(moto_server)
    url = sqs.create_queue(QueueName=f"groups-{round_}.fifo",
                           Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    for i in range(0, 10, 3):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": f"{group}{n}", "MessageBody": f"{group}-{n}", "MessageGroupId": group}
            for n in range(i, min(i + 3, 10)) for group in "abc"])
    receivers = [client(moto_server) for _ in range(RECEIVERS)]
    start = threading.Barrier(RECEIVERS)
    got: list[list[str]] = [[] for _ in receivers]

    def receive(k: int) -> None:
        start.wait()
        answer = receivers[k].receive_message(QueueUrl=url, MaxNumberOfMessages=4, WaitTimeSeconds=0)
        got[k] = [m["Body"] for m in answer.get("Messages", [])]

    threads = [threading.Thread(target=receive, args=(k,)) for k in range(RECEIVERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    holders = {group: [k for k, bodies in enumerate(got) if any(b.startswith(group) for b in bodies)]
               for group in "abc"}
    assert all(len(held) <= 1 for held in holders.values()), got
    for bodies in got:  # and what a receive holds of a group is the group's first messages, in order
        for group in "abc":
            mine = [b for b in bodies if b.startswith(group)]
            assert mine == [f"{group}-{n}" for n in range(len(mine))], got
    sqs.delete_queue(QueueUrl=url)
