"""Where the event sources live: boto3 clients at the configured endpoints, the AMQP URL of each
configured Amazon MQ broker, and the create-time probe of a source (does the SQS queue exist, what
is its visibility timeout).

Endpoints follow the SDK's conventions: boto3 itself reads AWS_ENDPOINT_URL_SQS,
AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL_DYNAMODB_STREAMS and AWS_ENDPOINT_URL, and credentials
come from the standard chain; a lamina setting (LAMINA_SQS_ENDPOINT_URL...) overrides per service.
The region of a client is the source ARN's. Imports lamina.errors only.
"""

from __future__ import annotations

import logging
import threading

import boto3
import botocore.exceptions
from botocore.config import Config

from lamina.errors import InvalidParameterValueException

log = logging.getLogger("lamina.pollers")
CLIENT_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30,
                       max_pool_connections=64)
NON_EXISTENT_QUEUE = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def queue_missing_text() -> str:
    return ("Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
            "SQS Error Message: The specified queue does not exist.")


def arn_parts(arn: str) -> tuple[str, str, str]:
    """(region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    return parts[3], parts[4], parts[5]


class Sources:
    def __init__(self, endpoints: dict[str, str | None] | None = None, mq_brokers: dict[str, str] | None = None,
                 default_region: str = "us-east-1") -> None:
        self._endpoints = {k: v for k, v in (endpoints or {}).items() if v}
        self.mq_brokers = dict(mq_brokers or {})
        self._region = default_region
        self._clients: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()
        self._session = boto3.session.Session()

    def client(self, service: str, region: str | None = None):
        """A boto3 client of `service` ("sqs", "kinesis", "dynamodbstreams") for `region`, shared."""
        key = (service, region or self._region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = self._session.client(
                    service, region_name=key[1], endpoint_url=self._endpoints.get(service), config=CLIENT_CONFIG)
            return client

    def queue_url(self, queue_arn: str) -> str:
        """The URL of the queue an ARN names (raises botocore's ClientError when it does not exist)."""
        region, account, name = arn_parts(queue_arn)
        client = self.client("sqs", region)
        return client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]

    def send_message(self, queue_arn: str, body: str, attributes: dict | None = None) -> None:
        """Send one message to the SQS queue an ARN names (a dead-letter or on-failure queue);
        raises botocore's errors."""
        client = self.client("sqs", arn_parts(queue_arn)[0])
        client.send_message(QueueUrl=self.queue_url(queue_arn), MessageBody=body,
                            MessageAttributes=attributes or {})

    def probe(self, kind: str, arn: str) -> dict | None:
        """Facts about a source checked at CreateEventSourceMapping: for SQS, its VisibilityTimeout;
        a queue that does not exist is AWS's error; an unreachable endpoint answers None (the mapping
        is kept and its poller shows the problem)."""
        if kind != "sqs":
            return None
        try:
            url = self.queue_url(arn)
            attributes = self.client("sqs", arn_parts(arn)[0]).get_queue_attributes(
                QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in NON_EXISTENT_QUEUE:
                raise InvalidParameterValueException(queue_missing_text()) from None
            log.warning("cannot check the queue %s: %s", arn, error)
            return None
        except (botocore.exceptions.BotoCoreError, OSError) as error:
            log.warning("cannot reach the queue %s: %s", arn, error)
            return None
        return {"VisibilityTimeout": int(attributes.get("VisibilityTimeout", 30))}
