"""Reading a Kinesis stream or a DynamoDB stream through boto3: its shards (with their parents), a
shard iterator for a checkpoint or a starting position, and one GetRecords call turned into
event records of AWS's shapes (lamina.pollers.stream_records).

Blocking calls (the poller runs them off the loop). The two sources differ only here. Imports
lamina.pollers (sources, stream_records) only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lamina.pollers import stream_records
from lamina.pollers.sources import Sources, arn_parts


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parents: tuple[str, ...]  # ParentShardId and AdjacentParentShardId (a merge has two)
    closed: bool  # has an EndingSequenceNumber: no record will be added to it


@dataclass(frozen=True)
class Position:
    """Where to start reading a shard: after `sequence_number`, else `kind` (TRIM_HORIZON, LATEST,
    AT_TIMESTAMP with `timestamp`)."""

    sequence_number: str | None = None
    kind: str = "TRIM_HORIZON"
    timestamp: float | None = None


@dataclass(frozen=True)
class Read:
    records: list[dict]  # event records, in shard order
    next_iterator: str | None  # None: the shard is closed and read to its end
    behind_ms: float | None  # the source's own MillisBehindLatest, when it gives one


class KinesisSource:
    kind = "kinesis"
    max_limit = 10_000

    def __init__(self, sources: Sources, stream_arn: str, *, role_arn: str) -> None:
        self.arn = stream_arn
        self.region = arn_parts(stream_arn)[0]
        self._client = sources.client("kinesis", self.region)
        self._name = stream_arn.split(":stream/", 1)[1]
        self._role_arn = role_arn

    def shards(self) -> list[Shard]:
        out, token = [], None
        while True:
            answer = (self._client.list_shards(NextToken=token) if token
                      else self._client.list_shards(StreamName=self._name))
            for shard in answer.get("Shards", []):
                parents = tuple(p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p)
                closed = bool(shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber"))
                out.append(Shard(shard["ShardId"], parents, closed))
            token = answer.get("NextToken")
            if not token:
                return out

    def iterator(self, shard_id: str, position: Position) -> str:
        args: dict = {"StreamName": self._name, "ShardId": shard_id}
        if position.sequence_number:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=position.sequence_number)
        elif position.kind == "AT_TIMESTAMP":
            args.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=datetime.fromtimestamp(position.timestamp or 0, UTC))
        else:
            args.update(ShardIteratorType=position.kind)
        return self._client.get_shard_iterator(**args)["ShardIterator"]

    def read(self, shard_id: str, iterator: str, limit: int) -> Read:
        answer = self._client.get_records(ShardIterator=iterator, Limit=min(limit, self.max_limit))
        records = [stream_records.kinesis_record(raw, shard_id=shard_id, stream_arn=self.arn, region=self.region,
                                                 role_arn=self._role_arn) for raw in answer.get("Records", [])]
        behind = answer.get("MillisBehindLatest")
        return Read(records, answer.get("NextShardIterator"), float(behind) if behind is not None else None)


class DynamoDBSource:
    kind = "dynamodb"
    max_limit = 1_000

    def __init__(self, sources: Sources, stream_arn: str, **_: object) -> None:
        self.arn = stream_arn
        self.region = arn_parts(stream_arn)[0]
        self._client = sources.client("dynamodbstreams", self.region)

    def shards(self) -> list[Shard]:
        out, start = [], None
        while True:
            args: dict = {"StreamArn": self.arn}
            if start:
                args["ExclusiveStartShardId"] = start
            description = self._client.describe_stream(**args)["StreamDescription"]
            for shard in description.get("Shards", []):
                parents = (shard["ParentShardId"],) if shard.get("ParentShardId") else ()
                closed = bool(shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber"))
                out.append(Shard(shard["ShardId"], parents, closed))
            start = description.get("LastEvaluatedShardId")
            if not start:
                return out

    def iterator(self, shard_id: str, position: Position) -> str:
        args: dict = {"StreamArn": self.arn, "ShardId": shard_id}
        if position.sequence_number:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=position.sequence_number)
        else:
            args.update(ShardIteratorType="LATEST" if position.kind == "LATEST" else "TRIM_HORIZON")
        return self._client.get_shard_iterator(**args)["ShardIterator"]

    def read(self, shard_id: str, iterator: str, limit: int) -> Read:
        answer = self._client.get_records(ShardIterator=iterator, Limit=min(limit, self.max_limit))
        records = [stream_records.dynamodb_record(raw, stream_arn=self.arn, region=self.region)
                   for raw in answer.get("Records", [])]
        return Read(records, answer.get("NextShardIterator"), None)


SOURCES = {"kinesis": KinesisSource, "dynamodb": DynamoDBSource}
