"""Amazon MQ for RabbitMQ mappings end to end: a real lamina consuming a queue of the real RabbitMQ on
127.0.0.1:5672 (guest/guest; .ci/run starts it), functions printing what they receive."""

from __future__ import annotations

import asyncio
import base64
import socket
import uuid as uuids

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, ROLE, LaminaProcess, client_for, make_zip, printed_json, wait_for

BROKER = f"arn:aws:mq:{REGION}:{ACCOUNT}:broker:local:b-11111111-2222-3333-4444-555555555555"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:mq-AbCdEf"
APP = r'''
import base64, json

def record(event, context):
    print("EVENT " + json.dumps({k: v for k, v in event.items() if k != "rmqMessagesByQueue"}))
    for key, messages in event["rmqMessagesByQueue"].items():
        for m in messages:
            print("MSG " + json.dumps({"key": key, "n": len(messages), "message": m}))
            if base64.b64decode(m["data"]) == b"flaky" and not m["redelivered"]:
                raise RuntimeError("first delivery of flaky fails")
'''


def rabbit_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not rabbit_up(), reason="needs RabbitMQ on 127.0.0.1:5672 (.ci/run starts it)")


async def publish(queue: str, bodies: list[bytes], **properties) -> list[str]:
    import aio_pika

    connection = await aio_pika.connect(AMQP)
    ids = []
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(queue, durable=True)
        for body in bodies:
            message_id = str(uuids.uuid4())
            ids.append(message_id)
            await channel.default_exchange.publish(
                aio_pika.Message(body, message_id=message_id, **properties), routing_key=queue)
    return ids


async def depth(queue: str) -> int:
    import aio_pika

    connection = await aio_pika.connect(AMQP)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=True, passive=True)
        return declared.declaration_result.message_count


async def delete_queue(queue: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(AMQP)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = LaminaProcess(tmp_path_factory.mktemp("mq-esm") / "data",
                            env={"LAMINA_MQ_BROKERS": f"{BROKER}={AMQP}", "LAMINA_MAPPING_BACKOFF_MAX": "1"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def lam(server):
    client = client_for(server.url)
    client.create_function(FunctionName="rmq", Runtime="python3.12", Role=ROLE, Handler="app.record", Timeout=5,
                           Code={"ZipFile": make_zip({"app.py": APP})})
    client.get_waiter("function_active_v2").wait(FunctionName="rmq")
    return client


def printed(server, prefix: str) -> list[dict]:
    return printed_json(client_for(server.url, "logs"), "rmq", prefix)


def test_mq_mapping_api(lam):
    queue = f"api-{uuids.uuid4().hex[:8]}"
    mapping = lam.create_event_source_mapping(
        EventSourceArn=BROKER, FunctionName="rmq", Queues=[queue], Enabled=False,
        SourceAccessConfigurations=[{"Type": "VIRTUAL_HOST", "URI": "/"}, {"Type": "BASIC_AUTH", "URI": SECRET}])
    assert mapping["BatchSize"] == 100 and mapping["Queues"] == [queue]
    assert mapping["StateTransitionReason"] == "USER_INITIATED"
    assert mapping["LastProcessingResult"] == "No records processed"
    assert mapping["SourceAccessConfigurations"][1] == {"Type": "BASIC_AUTH", "URI": SECRET}
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    other = BROKER.replace("local", "elsewhere")
    with pytest.raises(ClientError) as info:
        lam.create_event_source_mapping(EventSourceArn=other, FunctionName="rmq", Queues=[queue])
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "LAMINA_MQ_BROKERS" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        lam.create_event_source_mapping(EventSourceArn=BROKER, FunctionName="rmq")
    assert info.value.response["Error"]["Message"] == "Required 'queues' parameter is missing."


def test_every_message_is_delivered_then_acknowledged(lam, server):
    queue = f"orders-{uuids.uuid4().hex[:8]}"
    ids = asyncio.run(publish(queue, [f"order {i}".encode() for i in range(25)] + [b"flaky"],
                              content_type="text/plain", headers={"source": "test", "n": 7}))
    uuid = lam.create_event_source_mapping(
        EventSourceArn=BROKER, FunctionName="rmq", Queues=[queue], BatchSize=10,
        SourceAccessConfigurations=[{"Type": "VIRTUAL_HOST", "URI": "/"}, {"Type": "BASIC_AUTH", "URI": SECRET}],
    )["UUID"]
    try:
        def all_seen():
            seen = [m for m in printed(server, "MSG") if m["key"] == f"{queue}::/"]
            return seen if {m["message"]["basicProperties"]["messageId"] for m in seen} >= set(ids) else None

        wait_for(all_seen, what="every message")
        wait_for(lambda: asyncio.run(depth(queue)) == 0, what="every message acknowledged")

        def flaky_twice():
            messages = [m["message"] for m in all_seen() if base64.b64decode(m["message"]["data"]) == b"flaky"]
            return messages if len(messages) >= 2 else None

        flaky = wait_for(flaky_twice, what="the failed batch to come back")
        seen = all_seen()
        assert all(m["n"] <= 10 for m in seen)
        assert [m["redelivered"] for m in flaky][:2] == [False, True]
        first = next(m["message"] for m in seen if m["message"]["basicProperties"]["messageId"] == ids[0])
        assert base64.b64decode(first["data"]) == b"order 0"
        properties = first["basicProperties"]
        assert list(properties) == ["contentType", "contentEncoding", "headers", "deliveryMode", "priority",
                                    "correlationId", "replyTo", "expiration", "messageId", "timestamp", "type",
                                    "userId", "appId", "clusterId", "bodySize"]
        assert properties["contentType"] == "text/plain" and properties["bodySize"] == len(b"order 0")
        assert properties["headers"] == {"source": {"bytes": list(b"test")}, "n": 7}
        assert properties["correlationId"] is None and properties["replyTo"] is None
        envelope = printed(server, "EVENT")[0]
        assert envelope == {"eventSource": "aws:rmq", "eventSourceArn": BROKER}
        assert wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["LastProcessingResult"] == "OK",
                        what="LastProcessingResult OK")
    finally:
        lam.delete_event_source_mapping(UUID=uuid)
        asyncio.run(delete_queue(queue))


def test_a_missing_queue_shows_in_the_mapping(lam):
    queue = f"absent-{uuids.uuid4().hex[:8]}"
    uuid = lam.create_event_source_mapping(EventSourceArn=BROKER, FunctionName="rmq", Queues=[queue])["UUID"]
    try:
        mapping = wait_for(lambda: (lambda m: m if m["StateTransitionReason"].startswith("PROBLEM") else None)(
            lam.get_event_source_mapping(UUID=uuid)), what="the problem to show")
        assert queue in mapping["StateTransitionReason"]
        asyncio.run(publish(queue, [b"late"]))
        wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["StateTransitionReason"] == "USER_INITIATED",
                 what="the mapping to recover")
        wait_for(lambda: asyncio.run(depth(queue)) == 0, what="the late message consumed")
    finally:
        lam.delete_event_source_mapping(UUID=uuid)
        asyncio.run(delete_queue(queue))
