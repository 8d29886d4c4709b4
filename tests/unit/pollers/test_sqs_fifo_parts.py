"""The SQS poller on a FIFO batch split under the 6 MB payload limit: a failure in one part holds
back the later messages of its group in the parts after it (not invoked, not deleted: they come
back after the failed one, in order), while other groups go on."""

from __future__ import annotations

import asyncio
import json

from lamina.model import EventSourceMapping
from lamina.pollers.hooks import Delivery, Hooks
from lamina.pollers.sqs import SqsPoller

ARN = "arn:aws:sqs:us-east-1:123456789012:orders.fifo"
BIG = "x" * 3_500_000  # two of these do not fit one 6 MB payload


class Queue:
    """The client the poller is handed: records what it deletes."""

    class meta:  # noqa: N801 - boto3's attribute
        endpoint_url = None

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803 - boto3's names
        self.deleted += [entry["ReceiptHandle"] for entry in Entries]
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries]}


class Sources:
    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def client(self, service: str, region: str) -> Queue:
        return self.queue


def message(body_id: str, group: str, body: str = "") -> dict:
    return {"MessageId": body_id, "ReceiptHandle": body_id, "Body": body, "MD5OfBody": "",
            "Attributes": {"MessageGroupId": group, "MessageDeduplicationId": body_id}}


def run(messages: list[dict], fails: set[str]) -> tuple[list[list[str]], list[str]]:
    """(the ids of each invoke, the ids deleted) when the function fails every batch holding one of `fails`."""
    queue, invoked = Queue(), []

    async def invoke(function: str, qualifier: str | None, payload: bytes) -> Delivery:
        ids = [r["messageId"] for r in json.loads(payload)["Records"]]
        invoked.append(ids)
        return Delivery("Unhandled" if fails & set(ids) else None, b"null")

    async def report(*args) -> None:
        return None

    mapping = EventSourceMapping(uuid="u", function_name="fn", qualifier=None, event_source_arn=ARN, kind="sqs",
                                 config={"BatchSize": 10}, enabled=True, state="Enabled",
                                 state_reason="USER_INITIATED", last_processing_result=None, last_modified=0.0)
    poller = SqsPoller(mapping, Hooks(invoke=invoke, report=report, sources=Sources(queue)))
    asyncio.run(poller._process("url", messages))
    return invoked, queue.deleted


def test_a_failed_part_holds_back_its_group_in_the_next_parts():
    invoked, deleted = run([message("a-0", "a", BIG), message("a-1", "a", BIG), message("b-0", "b")], {"a-0"})
    assert invoked == [["a-0"], ["b-0"]]
    assert deleted == ["b-0"]


def test_parts_that_succeed_are_all_invoked_and_deleted():
    invoked, deleted = run([message("a-0", "a", BIG), message("a-1", "a", BIG), message("b-0", "b")], set())
    assert invoked == [["a-0"], ["a-1", "b-0"]]
    assert deleted == ["a-0", "a-1", "b-0"]
