"""`lamina serve --database postgresql://...`: the whole API on PostgreSQL through real servers.

One server drives create / invoke / list / alias / an async event / logs through boto3, is restarted
against the same database and finds its state; two servers started at once against a new database
both come up (the migrations take turns under an advisory lock) and, with --auth sigv4, share the
administrator key and verify each other's STS session tokens (the shared secrets).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import boto3
import pytest

from pg_support import throwaway_database
from support import ROLE, LaminaProcess, client_for, free_port, make_zip, wait_for

CODE = '''
import json

def handler(event, context):
    print("EVENT " + json.dumps(event))
    return {"got": event, "version": context.function_version}
'''


def _create(lam, name: str) -> None:
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler", Timeout=10,
                        Code={"ZipFile": make_zip({"app.py": CODE})})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def _printed(logs, name: str) -> list[dict]:
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern="EVENT")["events"]
    return [json.loads(e["message"].split("EVENT ", 1)[1]) for e in events if "EVENT " in e["message"]]


def test_a_server_on_postgresql_keeps_its_state_across_a_restart(tmp_path):
    with throwaway_database() as url:
        data = tmp_path / "data"
        first = LaminaProcess(data, args=("--database", url)).start()
        try:
            lam, logs = client_for(first.url), client_for(first.url, "logs")
            _create(lam, "pg-fn")
            answer = lam.invoke(FunctionName="pg-fn", Payload=b'{"n": 1}')
            assert json.loads(answer["Payload"].read()) == {"got": {"n": 1}, "version": "$LATEST"}
            version = lam.publish_version(FunctionName="pg-fn")["Version"]
            lam.create_alias(FunctionName="pg-fn", Name="live", FunctionVersion=version)
            answer = lam.invoke(FunctionName="pg-fn", Qualifier="live", Payload=b'{"n": 2}')
            assert json.loads(answer["Payload"].read())["version"] == version
            assert lam.invoke(FunctionName="pg-fn", InvocationType="Event", Payload=b'{"n": 3}')["StatusCode"] == 202
            wait_for(lambda: {"n": 3} in _printed(logs, "pg-fn"), timeout=60, what="the async event to run")
            assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["pg-fn"]
            assert not (data / "lamina.db").exists()  # the state went to PostgreSQL
        finally:
            assert first.stop() == 0
        second = LaminaProcess(data, args=("--database", url)).start()
        try:
            lam, logs = client_for(second.url), client_for(second.url, "logs")
            assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["pg-fn"]
            assert lam.get_alias(FunctionName="pg-fn", Name="live")["FunctionVersion"] == version
            assert [v["Version"] for v in lam.list_versions_by_function(FunctionName="pg-fn")["Versions"]] == [
                "$LATEST", version]
            assert _printed(logs, "pg-fn") == [{"n": 1}, {"n": 2}, {"n": 3}]
            answer = lam.invoke(FunctionName="pg-fn", Qualifier="live", Payload=b'{"n": 4}')
            assert json.loads(answer["Payload"].read()) == {"got": {"n": 4}, "version": version}
            assert second.health()["counts"]["functions"] == 1
        finally:
            assert second.stop() == 0


def _start_together(servers: list[LaminaProcess]) -> None:
    problems: list[BaseException] = []

    def start(server: LaminaProcess) -> None:
        try:
            server.start()
        except BaseException as exc:  # noqa: BLE001 - reported below
            problems.append(exc)

    threads = [threading.Thread(target=start, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if problems:
        raise problems[0]


@pytest.mark.parametrize("round_", range(2))
def test_two_servers_started_at_once_on_a_new_database_share_it_and_its_secrets(tmp_path, round_):
    with throwaway_database() as url:
        servers = [LaminaProcess(tmp_path / name / "data", env={"LAMINA_AUTH": "sigv4"}, args=("--database", url))
                   for name in ("a", "b")]
        try:
            _start_together(servers)
            a, b = servers
            keys = [(s.data_dir / "credentials").read_text().splitlines()[1:3] for s in servers]
            assert keys[0] == keys[1]  # one administrator key for the cluster, in each data dir
            _create(client_for(a.url), "made-on-a")
            assert client_for(b.url).get_function(FunctionName="made-on-a")["Configuration"]["Role"] == ROLE
            # A session token sealed by one front verifies on the other (one STS master key).
            iam = client_for(a.url, "iam")
            iam.create_role(RoleName="assumable", AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"AWS": "arn:aws:iam::000000000000:root"}}]}))
            session = client_for(a.url, "sts").assume_role(
                RoleArn="arn:aws:iam::000000000000:role/assumable", RoleSessionName="across")["Credentials"]
            sts_b = boto3.client("sts", endpoint_url=b.url, region_name="us-east-1",
                                 aws_access_key_id=session["AccessKeyId"],
                                 aws_secret_access_key=session["SecretAccessKey"],
                                 aws_session_token=session["SessionToken"])
            identity = sts_b.get_caller_identity()
            assert identity["Arn"] == "arn:aws:sts::000000000000:assumed-role/assumable/across"
        finally:
            for server in servers:
                if server.proc is not None:
                    server.stop()


def test_an_unreachable_database_stops_serve_with_one_line(tmp_path):
    url = f"postgresql://postgres:hidden@127.0.0.1:{free_port()}/nowhere"
    done = subprocess.run([sys.executable, "-m", "lamina.cli", "serve", "--port", str(free_port()), "--data-dir",
                           str(tmp_path / "data"), "--database", url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stdout + done.stderr and "hidden" not in done.stdout + done.stderr
    [line] = [text for text in (done.stdout + done.stderr).splitlines() if text.strip()]
    assert line.startswith("lamina: cannot reach the database postgresql://postgres:***@127.0.0.1:")
