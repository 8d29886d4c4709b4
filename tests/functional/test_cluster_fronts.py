"""Two fronts and two workers as real processes on one PostgreSQL and NATS: a function created through
one front runs through the other; reserved concurrency holds across both fronts; a scheduled rule
fires once per minute across both; a worker and a front killed with SIGKILL lose no accepted event."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from cluster_support import Cluster
from support import ROLE, client_for, make_zip, wait_for

pytest.importorskip("psycopg")

RELAYED_S = 10.0  # a change through one front reaches the other's caches by the relayed events, well
                 # before the 30 s re-read that would also pick it up
MINUTE_S = 2.0  # LAMINA_SCHEDULE_MINUTE_SECONDS: a schedule minute lasts this long

SLEEPER = """
import os, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"id": event.get("id"), "mode": os.environ.get("MODE")}
"""

# Prints each event's id so the test counts what ran (the log lines land in PostgreSQL).
COUNTER = """
import json, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    print("RAN " + json.dumps({"id": event.get("id", event.get("time"))}))
    return {}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    cluster.env["LAMINA_SCHEDULE_MINUTE_SECONDS"] = str(MINUTE_S)
    try:
        fronts = [cluster.front(), cluster.front()]
        cluster.worker()
        cluster.worker()
        cluster.wait_workers(fronts[0], 2)
        yield cluster, fronts
    finally:
        cluster.close()


def gone(call) -> bool:
    """Whether `call` answers ResourceNotFoundException."""
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"] == "ResourceNotFoundException"
    return False


def create(lam, name: str, code: str, **extra) -> None:
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": code})}, Timeout=30, **extra)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def ran_ids(logs, name: str) -> list:
    """The ids the function printed, in every log stream of its group (duplicates kept)."""
    ids: list = []
    try:
        streams = logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    except ClientError:
        return ids
    for stream in streams:
        token = None
        while True:
            page = logs.get_log_events(logGroupName=f"/aws/lambda/{name}", logStreamName=stream["logStreamName"],
                                       startFromHead=True, **({"nextToken": token} if token else {}))
            for event in page["events"]:
                message = event["message"]
                if message.startswith("RAN "):
                    ids.append(json.loads(message[4:])["id"])
            if page["nextForwardToken"] == token:
                break
            token = page["nextForwardToken"]
    return ids


def test_a_function_created_through_one_front_runs_through_the_other(cluster):
    _, (a, b) = cluster
    create(client_for(a.url), "made-on-a", SLEEPER)
    out = client_for(b.url).invoke(FunctionName="made-on-a", Payload=json.dumps({"id": 7}))
    assert out["StatusCode"] == 200 and json.loads(out["Payload"].read()) == {"id": 7, "mode": None}
    # A change made through B reaches A's invoke cache (the change events are relayed between fronts).
    client_for(b.url).update_function_configuration(FunctionName="made-on-a", Environment={"Variables": {"MODE": "b"}})
    client_for(b.url).get_waiter("function_updated_v2").wait(FunctionName="made-on-a")
    wait_for(lambda: json.loads(client_for(a.url).invoke(FunctionName="made-on-a", Payload=json.dumps({"id": 8}))[
        "Payload"].read()) == {"id": 8, "mode": "b"}, timeout=RELAYED_S, what="A to run the configuration B made")


def test_an_alias_moved_through_one_front_is_followed_by_the_other(cluster):
    _, (a, b) = cluster
    lam_a, lam_b = client_for(a.url), client_for(b.url)
    create(lam_a, "aliased", SLEEPER, Environment={"Variables": {"MODE": "one"}})
    one = lam_a.publish_version(FunctionName="aliased")["Version"]
    lam_a.create_alias(FunctionName="aliased", Name="live", FunctionVersion=one)
    assert json.loads(lam_b.invoke(FunctionName="aliased", Qualifier="live")["Payload"].read())["mode"] == "one"
    lam_a.update_function_configuration(FunctionName="aliased", Environment={"Variables": {"MODE": "two"}})
    lam_a.get_waiter("function_updated_v2").wait(FunctionName="aliased")
    two = lam_a.publish_version(FunctionName="aliased")["Version"]
    lam_a.update_alias(FunctionName="aliased", Name="live", FunctionVersion=two)

    def runs_two() -> bool:
        out = lam_b.invoke(FunctionName="aliased", Qualifier="live")
        return json.loads(out["Payload"].read())["mode"] == "two" and out["ExecutedVersion"] == two

    wait_for(runs_two, timeout=RELAYED_S, what="B to follow the alias A moved")
    lam_a.delete_alias(FunctionName="aliased", Name="live")
    wait_for(lambda: gone(lambda: lam_b.invoke(FunctionName="aliased", Qualifier="live")), timeout=RELAYED_S,
             what="B to forget the alias A deleted")


def test_a_permission_added_through_one_front_is_in_the_others_policy(cluster):
    _, (a, b) = cluster
    lam_a, lam_b = client_for(a.url), client_for(b.url)
    create(lam_a, "permitted", SLEEPER)
    with pytest.raises(ClientError):  # B reads (and keeps) the function's policy: none yet
        lam_b.get_policy(FunctionName="permitted")
    lam_a.add_permission(FunctionName="permitted", StatementId="events", Action="lambda:InvokeFunction",
                         Principal="events.amazonaws.com")
    wait_for(lambda: not gone(lambda: lam_b.get_policy(FunctionName="permitted")), timeout=RELAYED_S,
             what="B to see the permission A added")
    policy = json.loads(lam_b.get_policy(FunctionName="permitted")["Policy"])
    assert [statement["Sid"] for statement in policy["Statement"]] == ["events"]
    lam_a.remove_permission(FunctionName="permitted", StatementId="events")
    wait_for(lambda: gone(lambda: lam_b.get_policy(FunctionName="permitted")), timeout=RELAYED_S,
             what="B to see the permission A removed")


def test_reserved_concurrency_holds_across_both_fronts(cluster):
    _, (a, b) = cluster
    lam_a, lam_b = client_for(a.url), client_for(b.url)
    create(lam_a, "reserved-two", SLEEPER)
    lam_b.put_function_concurrency(FunctionName="reserved-two", ReservedConcurrentExecutions=2)
    running, peak, lock = [0], [0], threading.Lock()
    outcomes: list[str] = []

    def call(index: int) -> None:
        lam = (lam_a, lam_b)[index % 2]
        with lock:
            running[0] += 1
        try:
            lam.invoke(FunctionName="reserved-two", Payload=json.dumps({"sleep": 3, "id": index}))
            outcomes.append("ok")
        except ClientError as error:
            assert error.response["Error"]["Code"] == "TooManyRequestsException"
            assert error.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
            outcomes.append("throttled")
        finally:
            with lock:
                running[0] -= 1

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(call, range(8)))
    assert outcomes.count("ok") <= 2 and outcomes.count("ok") >= 1
    assert outcomes.count("throttled") == 8 - outcomes.count("ok")
    del peak


def test_a_schedule_fires_once_per_minute_across_two_fronts(cluster):
    _, (a, b) = cluster
    lam = client_for(a.url)
    create(lam, "ticked", COUNTER)
    events_a = client_for(a.url, "events")
    function_arn = lam.get_function(FunctionName="ticked")["Configuration"]["FunctionArn"]
    events_a.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")
    events_a.put_targets(Rule="every-minute", Targets=[{"Id": "t", "Arn": function_arn}])
    logs = client_for(b.url, "logs")
    wait_for(lambda: len(ran_ids(logs, "ticked")) >= 4, timeout=60, what="four scheduled minutes")
    events_a.disable_rule(Name="every-minute")
    time.sleep(MINUTE_S * 2)
    fired = ran_ids(logs, "ticked")
    assert len(fired) == len(set(fired)), f"a minute fired twice: {fired}"


def test_a_worker_killed_under_async_load_loses_no_event(cluster):
    nodes, (a, b) = cluster
    lam_a, lam_b = client_for(a.url), client_for(b.url)
    create(lam_a, "counted", COUNTER)
    accepted = []
    for index in range(40):
        lam = (lam_a, lam_b)[index % 2]
        out = lam.invoke(FunctionName="counted", InvocationType="Event",
                         Payload=json.dumps({"id": index, "sleep": 0.2}))
        assert out["StatusCode"] == 202
        accepted.append(index)
        if index == 10:
            victim = next(node for node in nodes.nodes if node.url is None and node.alive())
            victim.kill()
    logs = client_for(a.url, "logs")
    wait_for(lambda: set(accepted) <= set(ran_ids(logs, "counted")), timeout=120,
             what="every accepted event to run")
    nodes.worker()  # back to two workers for the next test
    nodes.wait_workers(a, 2, timeout=30)


def test_a_killed_front_leaves_the_other_serving_and_its_events_run(cluster):
    nodes, (a, b) = cluster
    lam_a, lam_b = client_for(a.url), client_for(b.url)
    create(lam_b, "front-counted", COUNTER)
    accepted = []
    for index in range(20):
        out = lam_a.invoke(FunctionName="front-counted", InvocationType="Event",
                           Payload=json.dumps({"id": index, "sleep": 0.3}))
        assert out["StatusCode"] == 202
        accepted.append(index)
    a.kill()
    out = lam_b.invoke(FunctionName="front-counted", Payload=json.dumps({"id": "sync"}))
    assert out["StatusCode"] == 200 and "FunctionError" not in out
    logs = client_for(b.url, "logs")
    wait_for(lambda: set(accepted) <= set(ran_ids(logs, "front-counted")), timeout=120,
             what="every event the killed front accepted to run")

