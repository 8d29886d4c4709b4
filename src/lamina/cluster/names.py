"""The names a cluster uses on NATS: subjects, streams, consumers and buckets, all under the
cluster's name (Settings.cluster_name), so two clusters (or two test runs) share a NATS server
without seeing each other's traffic. Pure; imports nothing from lamina."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


def checked_cluster_name(name: str) -> str:
    """A cluster name is one NATS subject token that is also a valid stream and bucket name."""
    if not _TOKEN.match(name or ""):
        raise ValueError(f"cluster name {name!r} must be letters, digits, '-' or '_'")
    return name


@dataclass(frozen=True)
class Names:
    cluster: str = "lamina"

    def __post_init__(self) -> None:
        checked_cluster_name(self.cluster)

    # Domain events (lamina.events) relayed between nodes.
    @property
    def events(self) -> str:
        return f"{self.cluster}.events"

    # The durable async queue: one work-queue stream, a subject per function.
    @property
    def async_stream(self) -> str:
        return f"{self.cluster}_async"

    def async_subject(self, function_name: str) -> str:
        return f"{self.cluster}.async.{function_name}"

    @property
    def async_subjects(self) -> str:
        return f"{self.cluster}.async.>"

    @property
    def async_consumer(self) -> str:
        return f"{self.cluster}_async_workers"

    # Async payloads too big for one NATS message travel beside it in an object store bucket.
    @property
    def async_payloads_bucket(self) -> str:
        return f"{self.cluster}_async_payloads"

    # Sync invokes: a worker's own subject (it holds warm environments) and the placement queue group.
    def run(self, worker_id: str) -> str:
        return f"{self.cluster}.run.{worker_id}"

    @property
    def place(self) -> str:
        return f"{self.cluster}.place"

    @property
    def place_group(self) -> str:
        return f"{self.cluster}_workers"

    # Commands every worker hears (retire environments of a function, provisioned targets).
    @property
    def workers_control(self) -> str:
        return f"{self.cluster}.workers.control"

    # Key-value bucket of live nodes (heartbeats with a TTL) and the object store of code blobs.
    @property
    def nodes_bucket(self) -> str:
        return f"{self.cluster}_nodes"

    @property
    def blobs_bucket(self) -> str:
        return f"{self.cluster}_blobs"

    # Where a front hears the answers to its run requests (results, streamed bytes, acks).
    def reply(self, node_id: str) -> str:
        return f"{self.cluster}.reply.{node_id}"
