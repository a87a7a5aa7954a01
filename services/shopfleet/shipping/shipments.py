"""Shipments' use cases: an admin's reads and changes, and what `order.paid` and
`order.cancelled` do to an order's shipment.

Each loads the shipment (`store.py`), lets the domain decide (`domain/shipments.py`), then
writes the change and its event (outbox) in the caller's session: a route's use case
commits; an event handler's change commits with the router's inbox row.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.auth import Principal
from shopfleet.kit.contracts.events import (
    SHIPMENT_CREATED,
    SHIPMENT_STATUS_CHANGED,
    OrderCancelled,
    OrderPaid,
)
from shopfleet.kit.cursors import PageEnd
from shopfleet.kit.db import utcnow
from shopfleet.kit.outbox import Outbox
from shopfleet.shipping.domain import shipments
from shopfleet.shipping.domain.refusals import ShipmentExists, ShipmentNotFound, UnknownMethod
from shopfleet.shipping.domain.shipments import Change, LeftAlready, RememberCancelled
from shopfleet.shipping.models import (
    ShipmentCreate,
    ShipmentPublic,
    ShipmentsPage,
    ShipmentUpdate,
    new_id,
    shipment_public,
)
from shopfleet.shipping.store import ShippingStore

log = structlog.get_logger("shopfleet.shipping.shipments")


class Shipments:
    """The use cases of shipments (they need nothing but a session)."""

    async def get(
        self, session: AsyncSession, shop: str, shipment_id: str, who: Principal
    ) -> ShipmentPublic:
        """A shipment; someone else's (unless an admin asks) is not found."""
        found = await ShippingStore(session).shipment(shop, shipment_id)
        seen = shipments.seen_by(found, shipment_id, user_id=who.user_id, is_admin=who.is_admin)
        return shipment_public(seen)

    async def page(
        self,
        session: AsyncSession,
        shop: str,
        who: Principal,
        *,
        status: str | None,
        order_id: str | None,
        user_id: str | None,
        limit: int,
        after: PageEnd | None,
    ) -> ShipmentsPage:
        """Newest first. A shopper sees their own; an admin all, or `user_id`'s if given."""
        owner = shipments.listed_user(who.user_id, is_admin=who.is_admin, asked=user_id)
        found, more = await ShippingStore(session).shipments_page(
            shop, user_id=owner, status=status, order_id=order_id, after=after, limit=limit
        )
        next_cursor = PageEnd(found[-1].created_at, found[-1].id).cursor() if more else None
        return ShipmentsPage(items=[shipment_public(s) for s in found], next_cursor=next_cursor)

    async def create(
        self, session: AsyncSession, shop: str, body: ShipmentCreate, actor: str
    ) -> ShipmentPublic:
        """An admin's shipment for an order that has none."""
        store = ShippingStore(session)
        method = await store.method(shop, body.method_id)
        if method is None:
            raise UnknownMethod(
                "body.method_id",
                f"no shipping method '{body.method_id}' in this shop; "
                "GET /shipping/methods lists them",
            )
        shipment = shipments.new_shipment(
            new_id(),
            order_id=body.order_id,
            user_id=body.user_id,
            method_id=body.method_id,
            carrier=body.carrier or method.carrier,
            tracking_number=body.tracking_number,
            address=body.address.model_dump(mode="json"),
            lines=[line.model_dump() for line in body.lines],
            cause="admin",
            actor=actor,
            now=utcnow(),
        )
        if not await _insert(store, shop, shipment):
            await session.rollback()
            existing = await store.shipment_id_of_order(shop, body.order_id)
            raise ShipmentExists(
                f"Order '{body.order_id}' has a shipment already ('{existing}'); change that "
                "one with PATCH /shipments/{id}.",
                shipment_id=existing,
            )
        await session.commit()
        return shipment_public(shipment)

    async def update(
        self, session: AsyncSession, shop: str, shipment_id: str, body: ShipmentUpdate, actor: str
    ) -> ShipmentPublic:
        store = ShippingStore(session)
        current = await store.shipment(shop, shipment_id, lock=True)
        if current is None:
            raise ShipmentNotFound.of(shipment_id)
        changes = shipments.admin_changes(current, body.model_dump(exclude_unset=True))
        if not changes:
            await session.rollback()
            return shipment_public(current)
        change = shipments.change(current, changes, cause="admin", actor=actor, now=utcnow())
        await _apply(store, shop, change)
        await session.commit()
        return shipment_public(change.shipment)

    async def delete(self, session: AsyncSession, shop: str, shipment_id: str) -> None:
        store = ShippingStore(session)
        current = await store.shipment(shop, shipment_id, lock=True)
        if current is None:
            raise ShipmentNotFound.of(shipment_id)
        shipments.check_deletable(current)
        await store.delete_shipment(shop, shipment_id)
        await session.commit()

    # ------------------------------------------------------------------------- events

    async def order_paid(self, session: AsyncSession, shop: str, paid: OrderPaid) -> bool:
        """The order's shipment, unless it has one already or was cancelled before this
        (late) `order.paid` came. True if one was created."""
        store = ShippingStore(session)
        if await store.cancelled_before(shop, paid.order_id):
            log.info(
                "order.paid after order.cancelled: no shipment", shop=shop, order=paid.order_id
            )
            return False
        method = await store.method(shop, paid.shipping_method_id)
        carrier = method.carrier if method is not None else None
        shipment = shipments.shipment_for_paid_order(paid, carrier, new_id(), utcnow())
        return await _insert(store, shop, shipment)

    async def order_cancelled(
        self, session: AsyncSession, shop: str, cancelled: OrderCancelled
    ) -> None:
        """Cancel the order's shipment if it has not left; with none yet, remember the
        order so that a late `order.paid` ships nothing."""
        store = ShippingStore(session)
        now = utcnow()
        current = await store.shipment_of_order(shop, cancelled.order_id, lock=True)
        match shipments.on_order_cancelled(current, now):
            case RememberCancelled():
                await store.remember_cancelled(shop, cancelled.order_id, now)
            case LeftAlready(status=status):
                log.warning(
                    "order cancelled after its shipment left; an admin handles the return",
                    shop=shop,
                    order=cancelled.order_id,
                    status=status.value,
                )
            case Change() as change:
                await _apply(store, shop, change)


async def _insert(store: ShippingStore, shop: str, shipment: shipments.ShipmentRecord) -> bool:
    """Insert the shipment and announce it, unless its order has one: True if inserted."""
    if not await store.insert_shipment(shop, shipment):
        return False
    await Outbox.add(store.session, SHIPMENT_CREATED, shipments.created_event(shipment), shop=shop)
    return True


async def _apply(store: ShippingStore, shop: str, change: Change) -> None:
    """Write a shipment's change, and its event with it (a status change)."""
    if change.event is not None:
        await Outbox.add(store.session, SHIPMENT_STATUS_CHANGED, change.event, shop=shop)
    await store.update_shipment(shop, change.shipment.id, change.columns)
