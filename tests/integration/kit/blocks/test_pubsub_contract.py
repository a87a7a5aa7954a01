"""The PubSub contract: at-least-once delivery, retries, dead letters and restarts."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from shopfleet.kit.blocks.local import LocalPubSub
from shopfleet.kit.blocks.ports import CloudEvent, Delivery, Subscription, new_event_id

from .conftest import PubSubFactory

Answer = Delivery | Exception
T = TypeVar("T")


class Recorder:
    """A handler that records every delivery and answers from a script, then `then`."""

    def __init__(self, *script: Answer, then: Answer = Delivery.SUCCESS) -> None:
        self.script = list(script)
        self.then = then
        self.events: list[CloudEvent] = []

    async def __call__(self, event: CloudEvent) -> Delivery:
        self.events.append(event)
        answer = self.script.pop(0) if self.script else self.then
        if isinstance(answer, Exception):
            raise answer
        return answer


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.005)


async def poll_until(
    fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout_s: float = 5.0
) -> T:
    """Call `fetch` until its result is `done`; returns that result."""
    deadline = time.monotonic() + timeout_s
    while not done(result := await fetch()):
        if time.monotonic() > deadline:
            pytest.fail(f"not done within {timeout_s}s; last result: {result!r}")
        await asyncio.sleep(0.005)
    return result


def unique(name: str) -> str:
    """A topic or consumer name no other test uses, so a shared broker keeps tests apart."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def order_placed(topic: str) -> CloudEvent:
    data = {"order_id": "o-1", "lines": [{"sku": "MUG", "qty": 2}], "note": "für Anna ☕"}
    return CloudEvent(id=new_event_id(), topic=topic, data=data, shop="acme")


async def test_subscriber_receives_published_event(pubsub_factory: PubSubFactory) -> None:
    topic, handler = unique("orders"), Recorder()
    pubsub = await pubsub_factory.make()
    pubsub.subscribe(Subscription(topic=topic, consumer=unique("notifications"), handler=handler))
    await pubsub.start()
    event = order_placed(topic)

    await pubsub.publish(event)

    await wait_until(lambda: len(handler.events) == 1)
    got = handler.events[0]
    assert (got.id, got.topic, got.shop, got.data) == (event.id, topic, "acme", event.data)


async def test_retry_is_delivered_again_until_success(pubsub_factory: PubSubFactory) -> None:
    topic, handler = unique("orders"), Recorder(Delivery.RETRY, Delivery.RETRY)
    pubsub = await pubsub_factory.make()
    pubsub.subscribe(Subscription(topic=topic, consumer=unique("shipping"), handler=handler))
    await pubsub.start()
    event = order_placed(topic)

    await pubsub.publish(event)

    await wait_until(lambda: len(handler.events) == 3)
    await asyncio.sleep(pubsub_factory.retry_window_s)
    assert [got.id for got in handler.events] == [event.id] * 3
    assert await pubsub_factory.dead_letters(pubsub) == []


async def test_handler_exception_counts_as_retry(pubsub_factory: PubSubFactory) -> None:
    topic, handler = unique("orders"), Recorder(RuntimeError("database is down"))
    pubsub = await pubsub_factory.make()
    pubsub.subscribe(Subscription(topic=topic, consumer=unique("shipping"), handler=handler))
    await pubsub.start()

    await pubsub.publish(order_placed(topic))

    await wait_until(lambda: len(handler.events) == 2)
    await asyncio.sleep(pubsub_factory.retry_window_s)
    assert len(handler.events) == 2
    assert await pubsub_factory.dead_letters(pubsub) == []


async def test_event_failing_every_attempt_goes_to_dead_letter_topic(
    pubsub_factory: PubSubFactory,
) -> None:
    topic, consumer, dead_topic = unique("orders"), unique("payments"), unique("deadletter")
    failing, dead = Recorder(then=ValueError("no such currency: XXX")), Recorder()
    pubsub = await pubsub_factory.make()
    pubsub.subscribe(
        Subscription(topic, consumer, failing, max_attempts=3, dead_letter_topic=dead_topic)
    )
    pubsub.subscribe(Subscription(topic=dead_topic, consumer=unique("ops"), handler=dead))
    await pubsub.start()
    event = order_placed(topic)

    await pubsub.publish(event)

    await wait_until(lambda: len(dead.events) == 1)
    await asyncio.sleep(pubsub_factory.retry_window_s)
    assert len(failing.events) == 3
    got = dead.events[0]
    assert (got.id, got.topic, got.shop, got.data) == (event.id, topic, "acme", event.data)
    [record] = await pubsub_factory.dead_letters(pubsub)
    assert (record.topic, record.consumer, record.attempts) == (topic, consumer, 3)
    assert record.reason == "max_attempts"
    assert record.error is not None and "no such currency: XXX" in record.error
    assert record.event.id == event.id


async def test_drop_goes_to_dead_letter_topic_without_retries(
    pubsub_factory: PubSubFactory,
) -> None:
    topic, consumer, dead_topic = unique("orders"), unique("payments"), unique("deadletter")
    dropping, dead = Recorder(then=Delivery.DROP), Recorder()
    pubsub = await pubsub_factory.make()
    pubsub.subscribe(Subscription(topic, consumer, dropping, dead_letter_topic=dead_topic))
    pubsub.subscribe(Subscription(topic=dead_topic, consumer=unique("ops"), handler=dead))
    await pubsub.start()
    event = order_placed(topic)

    await pubsub.publish(event)

    await wait_until(lambda: len(dead.events) == 1)
    await asyncio.sleep(pubsub_factory.retry_window_s)
    assert len(dropping.events) == 1
    assert dead.events[0].id == event.id
    [record] = await pubsub_factory.dead_letters(pubsub)
    assert (record.consumer, record.attempts, record.reason) == (consumer, 1, "drop")


async def test_every_consumer_of_a_topic_gets_its_own_copy(pubsub_factory: PubSubFactory) -> None:
    topic = unique("orders")
    shipping, notifications = Recorder(Delivery.RETRY), Recorder()
    pubsub = await pubsub_factory.make()
    pubsub.subscribe(Subscription(topic=topic, consumer=unique("shipping"), handler=shipping))
    pubsub.subscribe(Subscription(topic=topic, consumer=unique("notify"), handler=notifications))
    await pubsub.start()
    event = order_placed(topic)

    await pubsub.publish(event)

    # One consumer retrying does not make the other see the event twice.
    await wait_until(lambda: len(shipping.events) == 2 and len(notifications.events) == 1)
    await asyncio.sleep(pubsub_factory.retry_window_s)
    assert [e.id for e in shipping.events] == [event.id] * 2
    assert [e.id for e in notifications.events] == [event.id]


async def test_slow_handler_does_not_hold_up_other_events(pubsub_factory: PubSubFactory) -> None:
    topic, both_in_flight, in_flight = unique("orders"), asyncio.Event(), []

    async def handler(event: CloudEvent) -> Delivery:
        in_flight.append(event.id)
        if len(in_flight) == 2:
            both_in_flight.set()
        await asyncio.wait_for(both_in_flight.wait(), timeout=5)
        return Delivery.SUCCESS

    pubsub = await pubsub_factory.make()
    pubsub.subscribe(Subscription(topic=topic, consumer=unique("shipping"), handler=handler))
    await pubsub.start()

    await pubsub.publish(order_placed(topic))
    await pubsub.publish(order_placed(topic))

    await asyncio.wait_for(both_in_flight.wait(), timeout=5)


async def test_event_published_before_a_crash_is_delivered_after_restart(
    pubsub_factory: PubSubFactory,
) -> None:
    topic, consumer, handler = unique("orders"), unique("shipping"), Recorder()
    before = await pubsub_factory.make()
    before.subscribe(Subscription(topic=topic, consumer=consumer, handler=Recorder()))
    event = order_placed(topic)
    await before.publish(event)  # never started: nothing delivered yet
    await pubsub_factory.crash(before)

    after = await pubsub_factory.make()
    after.subscribe(Subscription(topic=topic, consumer=consumer, handler=handler))
    await after.start()

    await wait_until(lambda: len(handler.events) == 1)
    assert handler.events[0].id == event.id


async def test_delivery_in_flight_during_a_crash_is_delivered_again(
    pubsub_factory: PubSubFactory,
) -> None:
    topic, consumer, started = unique("orders"), unique("shipping"), asyncio.Event()

    async def hangs(event: CloudEvent) -> Delivery:
        started.set()
        await asyncio.Event().wait()  # the process dies before this answers
        return Delivery.SUCCESS

    before = await pubsub_factory.make()
    before.subscribe(Subscription(topic=topic, consumer=consumer, handler=hangs))
    await before.start()
    event = order_placed(topic)
    await before.publish(event)
    await asyncio.wait_for(started.wait(), timeout=5)
    await pubsub_factory.crash(before)

    handler = Recorder()
    after = await pubsub_factory.make()
    after.subscribe(Subscription(topic=topic, consumer=consumer, handler=handler))
    await after.start()

    await wait_until(lambda: len(handler.events) == 1)
    assert handler.events[0].id == event.id


async def test_stop_waits_for_the_handler_in_flight(pubsub_factory: PubSubFactory) -> None:
    topic, consumer = unique("orders"), unique("shipping")
    started, release, finished = asyncio.Event(), asyncio.Event(), []

    async def slow(event: CloudEvent) -> Delivery:
        started.set()
        await release.wait()
        finished.append(event.id)
        return Delivery.SUCCESS

    pubsub = await pubsub_factory.make()
    pubsub.subscribe(Subscription(topic=topic, consumer=consumer, handler=slow))
    await pubsub.start()
    first = order_placed(topic)
    await pubsub.publish(first)
    await asyncio.wait_for(started.wait(), timeout=5)

    stopping = asyncio.create_task(pubsub.stop())
    done, _ = await asyncio.wait({stopping}, timeout=0.1)
    assert not done, "stop() returned while a handler was still running"
    release.set()
    await asyncio.wait_for(stopping, timeout=5)
    assert finished == [first.id]

    # The finished delivery was acknowledged: a restarted consumer does not get it again.
    handler = Recorder()
    after = await pubsub_factory.make()
    after.subscribe(Subscription(topic=topic, consumer=consumer, handler=handler))
    await after.start()
    second = order_placed(topic)
    await after.publish(second)
    await wait_until(lambda: len(handler.events) >= 1)
    await asyncio.sleep(pubsub_factory.retry_window_s)
    assert [e.id for e in handler.events] == [second.id]


async def test_event_for_a_topic_nobody_subscribes_to_is_not_kept(
    pubsub_factory: PubSubFactory,
) -> None:
    topic, handler = unique("orders"), Recorder()
    publisher = await pubsub_factory.make()
    await publisher.publish(order_placed(topic))  # no subscriber: accepted and dropped

    subscriber = await pubsub_factory.make()
    subscriber.subscribe(Subscription(topic=topic, consumer=unique("late"), handler=handler))
    await subscriber.start()
    later = order_placed(topic)
    await publisher.publish(later)

    await wait_until(lambda: len(handler.events) >= 1)
    await asyncio.sleep(pubsub_factory.retry_window_s)
    assert [e.id for e in handler.events] == [later.id]


# ----------------------------------------------------------------------------- local adapter


async def test_local_runs_at_most_max_concurrency_handlers_per_subscription(
    tmp_path: Path,
) -> None:
    pubsub = await LocalPubSub.open(tmp_path / "pubsub.db", max_concurrency=2, poll_s=30)
    running, peak, delivered = 0, 0, []

    async def handler(event: CloudEvent) -> Delivery:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        delivered.append(event.id)
        return Delivery.SUCCESS

    pubsub.subscribe(Subscription(topic="orders", consumer="shipping", handler=handler))
    await pubsub.start()
    try:
        events = [order_placed("orders") for _ in range(6)]
        for event in events:
            await pubsub.publish(event)
        await wait_until(lambda: len(delivered) == 6)
    finally:
        await pubsub.stop()
    assert peak == 2
    assert sorted(delivered) == sorted(e.id for e in events)


async def test_local_opens_its_file_on_first_use(tmp_path: Path) -> None:
    pubsub = LocalPubSub(tmp_path / "data" / "pubsub.db", poll_s=30)  # as the platform builds it
    handler = Recorder()
    pubsub.subscribe(Subscription(topic="orders", consumer="shipping", handler=handler))
    await pubsub.start()
    try:
        await pubsub.publish(order_placed("orders"))
        await wait_until(lambda: len(handler.events) == 1)
    finally:
        await pubsub.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        await pubsub.publish(order_placed("orders"))


async def test_local_answer_that_is_not_a_delivery_counts_as_retry(tmp_path: Path) -> None:
    pubsub = await LocalPubSub.open(tmp_path / "pubsub.db", retry_base_s=0.01, poll_s=30)

    async def forgets_to_answer(event: CloudEvent) -> Delivery:
        return None  # type: ignore[return-value]

    pubsub.subscribe(Subscription("orders", "shipping", forgets_to_answer, max_attempts=2))
    await pubsub.start()
    try:
        await pubsub.publish(order_placed("orders"))
        dead = await poll_until(pubsub.dead_letters, lambda found: len(found) == 1)
    finally:
        await pubsub.stop()
    [record] = dead
    assert (record.attempts, record.reason) == (2, "max_attempts")
    assert record.error == "handler answered None, not a Delivery"


async def test_local_failed_attempts_count_across_restarts(tmp_path: Path) -> None:
    path, failing = tmp_path / "pubsub.db", Recorder(then=Delivery.RETRY)
    # Back-off long enough that the third attempt cannot start before the restart.
    before = await LocalPubSub.open(path, retry_base_s=0.2, poll_s=30)
    before.subscribe(Subscription("orders", "shipping", failing, max_attempts=3))
    await before.start()
    await before.publish(order_placed("orders"))
    await wait_until(lambda: len(failing.events) == 2)
    await before.stop()

    after = await LocalPubSub.open(path, retry_base_s=0.2, poll_s=30)
    after.subscribe(Subscription("orders", "shipping", failing, max_attempts=3))
    await after.start()
    try:
        [record] = await poll_until(after.dead_letters, lambda found: len(found) == 1)
    finally:
        await after.stop()
    assert len(failing.events) == 3 and record.attempts == 3
