"""The event bus: delivery by type and in order, the worker-thread → event-loop hand-off, and a
failing subscriber that does not stop the others."""

import asyncio
import logging
import threading

from lamina.events import AliasChanged, Bus, FunctionChanged, FunctionDeleted


def test_delivers_to_subscribers_of_the_event_type_only_in_subscription_order():
    bus, seen = Bus(), []
    bus.subscribe(FunctionChanged, lambda e: seen.append(("first", e)))
    bus.subscribe(FunctionDeleted, lambda e: seen.append(("deleted", e)))
    bus.subscribe(FunctionChanged, lambda e: seen.append(("second", e)))
    bus.publish(FunctionChanged("f"))
    assert seen == [("first", FunctionChanged("f")), ("second", FunctionChanged("f"))]


def test_an_event_nobody_subscribed_to_is_dropped_quietly():
    bus = Bus()
    bus.publish(AliasChanged("f", "live"))


def test_a_failing_subscriber_is_logged_and_the_others_still_run(caplog):
    bus, seen = Bus(), []

    def broken(event):
        raise RuntimeError("boom")

    bus.subscribe(FunctionChanged, broken)
    bus.subscribe(FunctionChanged, seen.append)
    with caplog.at_level(logging.ERROR, logger="lamina.events"):
        bus.publish(FunctionChanged("f"))
    assert seen == [FunctionChanged("f")]
    assert "FunctionChanged" in caplog.text and "boom" in caplog.text


def test_publishing_from_a_worker_thread_delivers_on_the_bound_loop_in_publish_order():
    bus, seen = Bus(), []

    async def main():
        loop = asyncio.get_running_loop()
        bus.bind(loop)
        bus.subscribe(FunctionChanged, lambda e: seen.append((e.function, threading.get_ident())))

        def control_operation():
            for name in ("a", "b", "c"):
                bus.publish(FunctionChanged(name))

        await asyncio.to_thread(control_operation)
        # delivery was scheduled before the thread's result was, so it has run by the time the caller
        # resumes (an HTTP answer written after a control operation follows its events)
        return list(seen), threading.get_ident()

    delivered, loop_thread = asyncio.run(main())
    assert delivered == [("a", loop_thread), ("b", loop_thread), ("c", loop_thread)]


def test_publishing_on_the_loop_delivers_at_once():
    bus, seen = Bus(), []

    async def main():
        bus.bind(asyncio.get_running_loop())
        bus.subscribe(FunctionDeleted, seen.append)
        bus.publish(FunctionDeleted("f"))
        return list(seen)

    assert asyncio.run(main()) == [FunctionDeleted("f")]


def test_a_subscriber_may_publish_and_the_nested_event_is_delivered():
    bus, seen = Bus(), []
    bus.subscribe(FunctionDeleted, lambda e: bus.publish(FunctionChanged(e.function)))
    bus.subscribe(FunctionChanged, seen.append)
    bus.publish(FunctionDeleted("f"))
    assert seen == [FunctionChanged("f")]


def test_events_are_values():
    assert FunctionChanged("f") == FunctionChanged("f")
    assert {AliasChanged("f", "a"), AliasChanged("f", "a")} == {AliasChanged("f", "a")}


def test_once_the_bound_loop_has_stopped_a_worker_thread_delivers_itself():
    bus, seen = Bus(), []
    loop = asyncio.new_event_loop()
    bus.bind(loop)
    loop.close()
    bus.subscribe(FunctionChanged, lambda e: seen.append(threading.get_ident()))
    worker = threading.Thread(target=bus.publish, args=(FunctionChanged("f"),))
    worker.start()
    worker.join()
    assert seen == [worker.ident]


def test_remote_events_reach_only_subscribers_that_asked_for_them_and_no_watcher():
    bus, seen, watched = Bus(), [], []
    bus.subscribe(FunctionChanged, lambda e: seen.append(("local-only", e)))
    bus.subscribe(FunctionChanged, lambda e: seen.append(("cache", e)), remote=True)
    bus.watch(watched.append)
    bus.publish_remote(FunctionChanged("from-another-node"))
    assert seen == [("cache", FunctionChanged("from-another-node"))] and watched == []
    seen.clear()
    bus.publish(FunctionChanged("here"))
    assert seen == [("local-only", FunctionChanged("here")), ("cache", FunctionChanged("here"))]
    assert watched == [FunctionChanged("here")]


def test_a_failing_watcher_is_logged_and_subscribers_still_ran(caplog):
    bus, seen = Bus(), []
    bus.subscribe(FunctionChanged, seen.append)

    def broken(event):
        raise RuntimeError("relay down")

    bus.watch(broken)
    with caplog.at_level(logging.ERROR, logger="lamina.events"):
        bus.publish(FunctionChanged("f"))
    assert seen == [FunctionChanged("f")] and "relay down" in caplog.text
