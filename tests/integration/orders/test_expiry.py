"""Unpaid orders expire and release their stock; crashed placings and deferred stock
calls are finished by the sweeper; several sweepers at once do each thing once."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from shopfleet.kit.blocks import Blocks, Delivery
from shopfleet.kit.contracts.catalog import ReservationLine, ReserveRequest
from shopfleet.orders.app import create_app
from shopfleet.orders.models import ORDERS, OrderCreate
from shopfleet.orders.settings import OrdersSettings
from tests.integration.orders.conftest import SHOP, Checkout
from tests.support.http import RunningApps
from tests.support.tokens import TokenMint


async def test_an_unpaid_order_expires_and_releases_stock(checkout: Checkout) -> None:
    mug = await checkout.product(stock=5)
    shopper = checkout.user()
    unpaid = await checkout.placed(shopper, {mug: 2})
    paid = await checkout.placed(shopper, {mug: 1})
    await checkout.paid(paid)
    assert (await checkout.service.sweep())["expired"] == 0  # not due yet

    checkout.clock.advance(1800 + 1)
    assert (await checkout.service.sweep())["expired"] == 1

    after = await checkout.order(unpaid["id"])
    assert after["status"] == "cancelled" and after["history"][-1]["cause"] == "expired"
    assert after["history"][-1]["actor"] == "system"
    assert (await checkout.order(paid["id"]))["status"] == "paid"
    stock = await checkout.stock(mug)
    assert (stock["on_hand"], stock["reserved"]) == (4, 0)
    (event,) = await checkout.relayed("order.cancelled", unpaid["id"])
    assert event["cause"] == "expired" and event["was_paid"] is False
    assert (await checkout.service.sweep())["expired"] == 0


async def test_concurrent_sweepers_expire_each_order_once(checkout: Checkout) -> None:
    mug = await checkout.product(stock=20)
    ids = [(await checkout.placed(checkout.user(), {mug: 1}))["id"] for _ in range(5)]
    checkout.clock.advance(1800 + 1)

    rounds = await asyncio.gather(*(checkout.service.expire_due() for _ in range(3)))

    assert sum(rounds) == 5
    for order_id in ids:
        events = await checkout.relayed("order.cancelled", order_id)
        assert len(events) == 1
    assert (await checkout.stock(mug))["available"] == 20


async def test_a_crash_after_reserving_is_undone_by_the_sweeper(checkout: Checkout) -> None:
    """The process died between reserving stock and opening the order: the `placing` row
    stays; once it is older than the placing timeout, the sweeper releases and forgets it."""
    mug = await checkout.product(stock=5)
    service = checkout.service
    shopper = checkout.user()
    checkout.fill(shopper, {mug: 2})
    body = OrderCreate.model_validate(
        {"shipping_method": "standard", "shipping_address": checkout.shipping_address()}
    )
    gathered = await service._gather(SHOP, checkout.sub(shopper), body)
    placing = await service._insert_placing(gathered, None, None)
    assert placing is not None
    order_id = placing.id
    lines = [ReservationLine(product_id=mug, quantity=2)]
    await service.upstreams.reserve(SHOP, order_id, ReserveRequest(lines=lines))  # ...and crash
    assert (await checkout.stock(mug))["reserved"] == 2
    assert (await checkout.get(shopper, order_id)).status_code == 404  # never shown

    assert (await service.sweep())["abandoned"] == 0  # it may still be in progress
    checkout.clock.advance(121)
    assert (await service.sweep())["abandoned"] == 1

    assert (await checkout.stock(mug))["reserved"] == 0
    async with service.db.reader() as session:
        assert await session.scalar(sa.select(ORDERS.c.id).where(ORDERS.c.id == order_id)) is None


async def test_stock_calls_missed_while_catalog_was_down_are_retried(checkout: Checkout) -> None:
    mug = await checkout.product(stock=5)
    shopper = checkout.user()
    to_cancel = await checkout.placed(shopper, {mug: 2})
    to_pay = await checkout.placed(shopper, {mug: 1})
    catalog = checkout.invoker._apps["catalog"]
    checkout.invoker.unregister("catalog")
    try:
        cancelled = await checkout.cancel(shopper, to_cancel["id"])
        assert cancelled.status_code == 200  # the cancel never waits for catalog
        assert await checkout.paid(to_pay) == Delivery.SUCCESS  # nor does a payment
        assert (await checkout.service.sweep())["settled"] == 2  # tried, still down
    finally:
        checkout.invoker.register("catalog", catalog)
    assert (await checkout.stock(mug))["reserved"] == 3

    assert (await checkout.service.sweep())["settled"] == 2

    stock = await checkout.stock(mug)
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (4, 0, 4)
    assert (await checkout.service.sweep())["settled"] == 0


async def test_the_apps_own_sweeper_expires_orders(
    checkout: Checkout, settings: OrdersSettings, blocks: Blocks, mint: TokenMint
) -> None:
    """A second replica whose background sweeper runs often: it expires the order that
    the first replica placed (same database), once."""
    mug = await checkout.product(stock=5)
    order = await checkout.placed(checkout.user(), {mug: 2})
    checkout.clock.advance(1800 + 1)
    fast = settings.model_copy(update={"sweep_interval_s": 0.05})
    async with RunningApps("http://replica") as apps:
        await apps.start(create_app(fast, blocks, verifier=mint.verifier(), clock=checkout.clock))
        (event,) = await checkout.pubsub.wait_for("order.cancelled", order_id=order["id"])
    assert event.data["cause"] == "expired"
    assert (await checkout.stock(mug))["available"] == 5
