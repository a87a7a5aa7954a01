"""The router's database inbox and the typed outbox, on SQLite and on real PostgreSQL:
a handler's writes commit with its inbox row; a service publishes its own topics only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.ports import CloudEvent, Delivery
from shopfleet.kit.contracts import events as ev
from shopfleet.kit.contracts.topics import ForeignTopicError
from shopfleet.kit.db import Database
from shopfleet.kit.outbox import OUTBOX, Outbox
from shopfleet.kit.subscriptions import DatabaseInbox, EventRouter, Received
from tests.integration.kit.test_outbox import MIGRATIONS, counter, inbox_ids, increment

AT = datetime(2025, 1, 2, tzinfo=UTC)
MONEY = {"amount": 1250, "currency": "EUR"}
FAILED = {
    "payment_id": "pay-1",
    "order_id": "o-1",
    "user_id": "u-1",
    "amount": MONEY,
    "code": "card_declined",
    "message": "Declined.",
    "failed_at": AT.isoformat(),
}


@pytest.fixture
async def orders(database_url_factory: Callable[[str], Awaitable[str]]) -> AsyncIterator[Database]:
    """A migrated database (outbox, inbox, counters) of the service `orders`."""
    db = Database(await database_url_factory("orders"), service="orders", migrations=MIGRATIONS)
    await db.migrate()
    yield db
    await db.dispose()


def payment_failed(event_id: str = "ev-1", **changes: object) -> CloudEvent:
    return CloudEvent(id=event_id, topic=ev.PAYMENT_FAILED, data=FAILED | changes, shop="acme")


def router_counting(db: Database, after: list[int | None]) -> EventRouter[AsyncSession]:
    router = EventRouter("orders", DatabaseInbox(db))

    async def read_committed(event: Received[ev.PaymentFailed], _: object) -> None:
        after.append(await counter(db))  # another session: sees only what committed

    @router.on(ev.PAYMENT_FAILED, after_commit=read_committed)
    async def failed(session: AsyncSession, event: Received[ev.PaymentFailed]) -> None:
        await increment(session)
        if event.payload.code == "processing_error":
            raise RuntimeError("downstream hiccup")

    return router


async def deliver(router: EventRouter[AsyncSession], event: CloudEvent) -> Delivery:
    (subscription,) = router.subscriptions()
    return await subscription.handler(event)


async def test_the_effect_commits_with_the_inbox_row_once(orders: Database) -> None:
    after: list[int | None] = []
    router = router_counting(orders, after)
    assert await deliver(router, payment_failed()) is Delivery.SUCCESS
    assert await deliver(router, payment_failed()) is Delivery.SUCCESS  # a redelivery
    assert await counter(orders) == 1 and await inbox_ids(orders) == [("orders", "ev-1")]
    assert after == [1, 1]  # the hook ran after the commit, the duplicate's too


async def test_a_failing_handler_rolls_back_its_writes_and_the_inbox_row(orders: Database) -> None:
    after: list[int | None] = []
    router = router_counting(orders, after)
    hiccup = payment_failed("ev-2", code="processing_error")
    assert await deliver(router, hiccup) is Delivery.RETRY
    assert await deliver(router, payment_failed("ev-3", amount="lots")) is Delivery.DROP
    assert await counter(orders) is None and await inbox_ids(orders) == [] and after == []


async def test_a_service_publishes_its_own_topic_as_its_model(orders: Database) -> None:
    changed = ev.OrderStatusChanged(
        order_id="o-1",
        user_id="u-1",
        status="paid",
        previous="pending_payment",
        cause="payment.succeeded",
        total=MONEY,
        changed_at=AT,
    )
    async with orders.session() as session, session.begin():
        event_id = await Outbox.add(session, ev.ORDER_STATUS_CHANGED, changed, shop="acme")
        with pytest.raises(ForeignTopicError):
            failed = ev.PaymentFailed.model_validate(FAILED)
            await Outbox.add(session, ev.PAYMENT_FAILED, failed, shop="acme")
    async with orders.reader() as session:
        rows = (await session.execute(select(OUTBOX.c.id, OUTBOX.c.topic, OUTBOX.c.payload))).all()
    ((row_id, topic, payload),) = rows
    assert (row_id, topic) == (event_id, "order.status_changed")
    assert orjson.loads(payload) == changed.model_dump(mode="json")
