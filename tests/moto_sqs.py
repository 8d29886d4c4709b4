"""The moto server the tests run as their SQS (and Kinesis, DynamoDB Streams), with its SQS queue
operations made atomic. Run as `python moto_sqs.py -H HOST -p PORT` (moto_server's arguments).

moto 5.2's server answers each request on a thread of its own, and its SQS queue state has no lock:
- a ReceiveMessage notes the FIFO message groups in flight, then walks the queue taking messages; a
  receive running beside it takes messages of groups the first has just taken, so one message group
  is in flight in two receives at once (SQS hands a group to one receiver until its messages are
  deleted or visible again). lamina's poller runs two or more receives at a time, as AWS's does.
- a DeleteMessage rebuilds the queue's message list from the one it read: two deletes side by side
  put back each other's message (it comes back after its visibility timeout), and a message sent
  meanwhile can be lost.

Here each pass of a receive over the queue, each delete, send and visibility change runs under one
lock; a long poll waits between passes outside it. Imports moto only.
"""

from __future__ import annotations

import functools
import threading
import time

from moto import server
from moto.sqs import models

LOCK = threading.RLock()  # reentrant: moto's own SQS → Lambda mappings receive inside a send
PASS_GAP_S = 0.02  # how often a long poll looks at the queue again


def _atomic(method):
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with LOCK:
            return method(*args, **kwargs)
    return locked


def _receive_in_passes(receive):
    @functools.wraps(receive)
    def receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout,
                        message_attribute_names=None):
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        while True:
            with LOCK:  # one pass, WaitTimeSeconds 0: moto then walks the queue once
                messages = receive(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            if messages or time.monotonic() >= deadline:
                return messages
            time.sleep(PASS_GAP_S)
    return receive_message


def make_atomic() -> None:
    models.SQSBackend.receive_message = _receive_in_passes(models.SQSBackend.receive_message)
    models.SQSBackend.change_message_visibility = _atomic(models.SQSBackend.change_message_visibility)
    models.Queue.delete_message = _atomic(models.Queue.delete_message)
    models.Queue.add_message = _atomic(models.Queue.add_message)


if __name__ == "__main__":
    make_atomic()
    server.main()
