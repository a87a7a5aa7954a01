"""The subscription router: one validation, the inbox once, the after-commit hook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from shopfleet.kit.blocks.ports import CloudEvent, Delivery
from shopfleet.kit.contracts import events as ev
from shopfleet.kit.inbox import PermanentEventError
from shopfleet.kit.subscriptions import EventRouter, HandlersKeepTheInbox, Received

Writes = list[str]  # what a handler "writes" in the memory inbox's transaction

STOCK = {"product_id": "p-1", "available": 2, "threshold": 5}


class MemoryInbox:
    """A consumer inbox in memory: an effect's writes land only if it returns (commit)."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()
        self.committed: Writes = []

    async def once(
        self, consumer: str, event_id: str, effect: Callable[[Writes], Awaitable[None]]
    ) -> bool:
        if (consumer, event_id) in self.seen:
            return False
        writes: Writes = []
        await effect(writes)  # raising leaves no trace: a rollback
        self.seen.add((consumer, event_id))
        self.committed.extend(writes)
        return True


def stock_low(event_id: str = "ev-1", data: Any = None) -> CloudEvent:
    return CloudEvent(id=event_id, topic=ev.STOCK_LOW, data=data or STOCK, shop="acme")


async def deliver(router: EventRouter[Any], event: CloudEvent) -> Delivery:
    (subscription,) = [s for s in router.subscriptions() if s.topic == event.topic]
    return await subscription.handler(event)


async def test_a_fitting_payload_reaches_its_handler_as_the_topics_model_once() -> None:
    inbox, seen = MemoryInbox(), []
    router = EventRouter("alerts", inbox)

    @router.on(ev.STOCK_LOW)
    async def low(writes: Writes, event: Received[ev.StockLow]) -> None:
        seen.append(event)
        writes.append(event.payload.product_id)

    assert await deliver(router, stock_low()) is Delivery.SUCCESS
    assert await deliver(router, stock_low()) is Delivery.SUCCESS  # a redelivery
    (received,) = seen
    assert received == Received("ev-1", "acme", "stock.low", ev.StockLow(**STOCK))
    assert inbox.committed == ["p-1"]


async def test_a_payload_that_does_not_fit_its_model_is_dropped_untouched() -> None:
    inbox, calls = MemoryInbox(), []
    router = EventRouter("alerts", inbox)

    @router.on(ev.STOCK_LOW)
    async def low(writes: Writes, event: Received[ev.StockLow]) -> None:
        calls.append(event)

    for data in ({"product_id": "p-1"}, ["not", "an", "object"], {**STOCK, "available": "x"}):
        assert await deliver(router, stock_low(data=data)) is Delivery.DROP
    assert calls == [] and inbox.seen == set()


@pytest.mark.parametrize(
    ("raised", "answer"),
    [
        (PermanentEventError("unknown product"), Delivery.DROP),
        (LookupError("the router was told: unprocessable"), Delivery.DROP),
        (RuntimeError("database hiccup"), Delivery.RETRY),
    ],
)
async def test_what_a_handler_raises_decides_the_answer_and_rolls_back(
    raised: Exception, answer: Delivery
) -> None:
    inbox = MemoryInbox()
    router = EventRouter("alerts", inbox, unprocessable=(LookupError,))

    @router.on(ev.STOCK_LOW)
    async def low(writes: Writes, event: Received[ev.StockLow]) -> None:
        writes.append("half done")
        raise raised

    assert await deliver(router, stock_low()) is answer
    assert inbox.committed == [] and inbox.seen == set()


async def test_a_retried_event_takes_effect_when_its_handler_succeeds() -> None:
    inbox, failures = MemoryInbox(), [RuntimeError("once")]
    router = EventRouter("alerts", inbox)

    @router.on(ev.STOCK_LOW)
    async def low(writes: Writes, event: Received[ev.StockLow]) -> None:
        if failures:
            raise failures.pop()
        writes.append(event.id)

    assert await deliver(router, stock_low()) is Delivery.RETRY
    assert await deliver(router, stock_low()) is Delivery.SUCCESS
    assert inbox.committed == ["ev-1"]


async def test_the_after_commit_hook_runs_after_success_and_duplicates_only() -> None:
    inbox, after = MemoryInbox(), []
    router = EventRouter("alerts", inbox)

    async def settle(event: Received[ev.StockLow], returned: object) -> None:
        # the effect is committed by now; the hook gets what the handler returned
        after.append((event.id, list(inbox.committed), returned))

    @router.on(ev.STOCK_LOW, after_commit=settle)
    async def low(writes: Writes, event: Received[ev.StockLow]) -> str:
        if event.payload.available < 0:
            raise PermanentEventError("negative stock")
        writes.append(event.id)
        return f"wrote {event.id}"

    assert await deliver(router, stock_low("ev-1")) is Delivery.SUCCESS
    assert await deliver(router, stock_low("ev-1")) is Delivery.SUCCESS  # a duplicate
    negative = {**STOCK, "available": -1}
    assert await deliver(router, stock_low("ev-2", negative)) is Delivery.DROP
    assert await deliver(router, stock_low("ev-3", {"bad": 1})) is Delivery.DROP
    # A duplicate's hook runs too, given None: its handler did not run.
    assert after == [("ev-1", ["ev-1"], "wrote ev-1"), ("ev-1", ["ev-1"], None)]


async def test_a_failing_hook_retries_and_the_redelivery_runs_only_the_hook() -> None:
    inbox, hook_failures, effects = MemoryInbox(), [RuntimeError("catalog down")], []
    router = EventRouter("alerts", inbox)

    async def settle(event: Received[ev.StockLow], _: object) -> None:
        if hook_failures:
            raise hook_failures.pop()

    @router.on(ev.STOCK_LOW, after_commit=settle)
    async def low(writes: Writes, event: Received[ev.StockLow]) -> None:
        effects.append(event.id)

    assert await deliver(router, stock_low()) is Delivery.RETRY
    assert await deliver(router, stock_low()) is Delivery.SUCCESS
    assert effects == ["ev-1"]


def test_subscriptions_name_each_topic_by_its_wire_name_for_the_consumer() -> None:
    router = EventRouter("alerts", MemoryInbox())

    async def handler(writes: Writes, event: Received[Any]) -> None:
        return None

    router.on(ev.STOCK_LOW)(handler)
    router.on(ev.PRODUCT_DELETED)(handler)
    subscriptions = router.subscriptions()
    assert [(s.topic, s.consumer) for s in subscriptions] == [
        ("stock.low", "alerts"),
        ("product.deleted", "alerts"),
    ]
    assert all(type(s.topic) is str for s in subscriptions)
    with pytest.raises(ValueError, match="twice"):
        router.on(ev.STOCK_LOW)(handler)


async def test_handlers_that_keep_their_own_inbox_run_on_every_delivery() -> None:
    router = EventRouter("cart", HandlersKeepTheInbox(), unprocessable=(ValueError,))
    runs: list[tuple[None, str]] = []

    @router.on(ev.PRODUCT_DELETED)
    async def deleted(nothing: None, event: Received[ev.ProductDeleted]) -> None:
        if event.payload.product_id == "bad/id":
            raise ValueError("our keys cannot hold it")
        runs.append((nothing, event.id))

    event = CloudEvent(
        id="ev-9",
        topic=ev.PRODUCT_DELETED,
        data={"product_id": "p-1", "version": 2},
        shop="acme",
    )
    assert await deliver(router, event) is Delivery.SUCCESS
    assert await deliver(router, event) is Delivery.SUCCESS
    assert runs == [(None, "ev-9"), (None, "ev-9")]
    data = {"product_id": "bad/id", "version": 2}
    bad = CloudEvent(id="ev-10", topic=ev.PRODUCT_DELETED, data=data, shop="acme")
    assert await deliver(router, bad) is Delivery.DROP
