"""Cluster workers start a runtime's zygote ahead, before any invoke, as a single node does: when a
function on it is created (the front's "prepare" command to every worker), and when a worker starts
(the runtimes of the functions deployed in the shared database). Each worker's beat, in the front's
/health `nodes`, lists the interpreters whose zygote runs."""

from __future__ import annotations

import json

import pytest

from cluster_support import Cluster
from support import ROLE, client_for, make_zip, wait_for


def _zygotes(cluster: Cluster, front, worker_ids: set[str] | None = None) -> dict[str, list[str]]:
    return {node["id"]: (node.get("environments") or {}).get("zygotes", [])
            for node in cluster.live_workers(front) if worker_ids is None or node["id"] in worker_ids}


def test_workers_start_the_zygote_of_a_created_or_deployed_runtime_before_any_invoke(tmp_path):
    cluster = Cluster(tmp_path)
    try:
        front = cluster.front()
        cluster.worker(endpoint=front.url)
        [first] = cluster.wait_workers(front, 1)
        if first["environments"].get("backend") != "namespaces":
            pytest.skip("only the namespaces backend keeps zygotes")
        assert first["environments"]["zygotes"] == []  # no function: none started

        lam = client_for(front.url)
        lam.create_function(FunctionName="ahead", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 'ahead'\n"})})
        lam.get_waiter("function_active_v2").wait(FunctionName="ahead")
        created = wait_for(lambda: _zygotes(cluster, front)[first["id"]], timeout=30,
                           what="the running worker's zygote for the created function's runtime")
        assert len(created) == 1 and created[0].endswith("python3.12"), created

        cluster.worker(endpoint=front.url)  # joins after the create: reads the deployed runtimes itself
        workers = cluster.wait_workers(front, 2)
        [second] = [node["id"] for node in workers if node["id"] != first["id"]]
        started = wait_for(lambda: _zygotes(cluster, front, {second})[second], timeout=30,
                           what="the new worker's zygote for the deployed function's runtime")
        assert started == created
        assert all(node["environments"]["environments"] == 0 for node in cluster.live_workers(front))

        answer = lam.invoke(FunctionName="ahead")
        assert json.loads(answer["Payload"].read()) == "ahead"
    finally:
        cluster.close()
