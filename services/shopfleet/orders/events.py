"""The topics orders consumes: payments' and shipping's events move the order along.

Each handler runs in the router's inbox transaction: the inbox row and the order's change
commit together, so a redelivered event (same id) changes nothing; the transition table
keeps a different but older event (out of order) from moving an order backwards. After
the commit, whatever the change left for catalog (commit or release the stock) is done at
once (`settle_stock`, the router's after-commit hook); if catalog is down, the sweeper
does it later. The hook is told the stock state the handler's change left, so it does not
read the order again; a duplicate's hook (no handler ran) reads it.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.blocks.ports import Subscription
from shopfleet.kit.contracts import events as ev
from shopfleet.kit.db import Database
from shopfleet.kit.subscriptions import DatabaseInbox, EventRouter, Received
from shopfleet.orders.domain.order import Stock
from shopfleet.orders.service import Orders

CONSUMER = "orders"


class OfAnOrder(Protocol):
    """Every payload orders consumes names its order."""

    @property
    def order_id(self) -> str: ...


def subscriptions(db: Database, orders: Orders) -> list[Subscription]:
    """What `create_app` subscribes, before the platform starts pub/sub."""
    router = EventRouter(CONSUMER, DatabaseInbox(db))

    async def settle_stock(event: Received[OfAnOrder], left: Stock | None) -> None:
        """`left`: the stock the handler's change committed (None for a duplicate: read)."""
        await orders.settle_stock(event.shop, event.payload.order_id, left)

    @router.on(ev.PAYMENT_SUCCEEDED, after_commit=settle_stock)
    async def payment_succeeded(
        session: AsyncSession, event: Received[ev.PaymentSucceeded]
    ) -> Stock | None:
        return await orders.on_payment_succeeded(session, event.shop, event.payload)

    @router.on(ev.PAYMENT_FAILED, after_commit=settle_stock)
    async def payment_failed(
        session: AsyncSession, event: Received[ev.PaymentFailed]
    ) -> Stock | None:
        return await orders.on_payment_failed(session, event.shop, event.payload)

    @router.on(ev.PAYMENT_REFUNDED, after_commit=settle_stock)
    async def payment_refunded(
        session: AsyncSession, event: Received[ev.PaymentRefunded]
    ) -> Stock | None:
        return await orders.on_payment_refunded(session, event.shop, event.payload)

    @router.on(ev.SHIPMENT_CREATED, after_commit=settle_stock)
    async def shipment_created(
        session: AsyncSession, event: Received[ev.ShipmentCreated]
    ) -> Stock | None:
        return await orders.on_shipment_created(session, event.shop, event.payload)

    @router.on(ev.SHIPMENT_STATUS_CHANGED, after_commit=settle_stock)
    async def shipment_status_changed(
        session: AsyncSession, event: Received[ev.ShipmentStatusChanged]
    ) -> Stock | None:
        return await orders.on_shipment_status_changed(session, event.shop, event.payload)

    return router.subscriptions()
