"""The domain-event bridge on the real NATS: two nodes (two buses on two connections) in one
cluster; an event published on one reaches the other's remote subscribers only, and a node
never hears its own events back."""

from __future__ import annotations

import asyncio
import secrets

from lamina import events
from lamina.cluster.bridge import BusBridge
from lamina.cluster.connection import connect
from lamina.cluster.names import Names

NATS_URL = "nats://127.0.0.1:4222"


async def _settled(condition, timeout=10.0):
    """Wait until `condition()` holds (events cross NATS asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the event never arrived"
        await asyncio.sleep(0.01)


def test_events_reach_remote_subscribers_of_other_nodes_only():
    names = Names(f"tjs{secrets.token_hex(4)}")

    async def main():
        node_a, node_b = await connect(NATS_URL, name="a"), await connect(NATS_URL, name="b")
        bus_a, bus_b = events.Bus(), events.Bus()
        bus_a.bind(asyncio.get_running_loop())
        bus_b.bind(asyncio.get_running_loop())
        seen = {"a-cache": [], "a-local": [], "b-cache": [], "b-local": []}
        for node, bus in (("a", bus_a), ("b", bus_b)):
            bus.subscribe(events.FunctionChanged, seen[f"{node}-cache"].append, remote=True)
            bus.subscribe(events.FunctionChanged, seen[f"{node}-local"].append)
            bus.subscribe(events.AliasChanged, seen[f"{node}-cache"].append, remote=True)
        bridges = [BusBridge(bus_a, node_a, names, "node-a"), BusBridge(bus_b, node_b, names, "node-b")]
        other_cluster = events.Bus()
        other_seen = []
        other_cluster.subscribe(events.FunctionChanged, other_seen.append, remote=True)
        other = BusBridge(other_cluster, node_b, Names(f"{names.cluster}x"), "node-c")
        for bridge in (*bridges, other):
            await bridge.start()
        try:
            bus_a.publish(events.FunctionChanged("f1"))
            await asyncio.to_thread(bus_a.publish, events.AliasChanged("f1", "live"))  # from a control thread
            await _settled(lambda: len(seen["b-cache"]) == 2)
            assert seen["b-cache"] == [events.FunctionChanged("f1"), events.AliasChanged("f1", "live")]
            assert seen["b-local"] == []  # cascades of node b never run for node a's changes
            assert seen["a-local"] == [events.FunctionChanged("f1")]
            bus_b.publish(events.FunctionChanged("f2"))
            await _settled(lambda: events.FunctionChanged("f2") in seen["a-cache"])
            await node_a.flush()
            await node_b.flush()
            await asyncio.sleep(0.2)  # an echo, if there were one, would have arrived by now
            # no echo: each node saw its own events once (locally) and the other's once (relayed)
            assert seen["a-cache"] == [events.FunctionChanged("f1"), events.AliasChanged("f1", "live"),
                                       events.FunctionChanged("f2")]
            assert seen["b-cache"] == [events.FunctionChanged("f1"), events.AliasChanged("f1", "live"),
                                       events.FunctionChanged("f2")]
            assert other_seen == []  # another cluster on the same NATS hears nothing
        finally:
            for bridge in (*bridges, other):
                await bridge.close()
            await node_a.close()
            await node_b.close()

    asyncio.run(main())
