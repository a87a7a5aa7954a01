"""Shipping's use cases: methods, saved addresses, quotes, shipments, and what `order.paid`
and `order.cancelled` do.

Each loads what it needs (`store.py`), lets the domain decide (`domain/`), then stores the
change and its event (outbox) in the caller's session, and commits what a route asked
(an event handler's change commits with the router's inbox row instead).
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.auth import Principal
from shopfleet.kit.contracts.clients.catalog import CatalogClient
from shopfleet.kit.contracts.events import (
    SHIPMENT_CREATED,
    SHIPMENT_STATUS_CHANGED,
    OrderCancelled,
    OrderPaid,
)
from shopfleet.kit.contracts.shipping import Address, Quote, QuoteRequest
from shopfleet.kit.db import utcnow
from shopfleet.kit.outbox import Outbox
from shopfleet.shipping.domain import costs, edits, methods, shipments
from shopfleet.shipping.domain.methods import Deletion, MethodRecord
from shopfleet.shipping.domain.refusals import (
    AddressNotFound,
    MethodIdTaken,
    ShipmentExists,
    ShipmentNotFound,
    UnknownMethod,
    method_not_found,
)
from shopfleet.shipping.domain.shipments import Change, LeftAlready, RememberCancelled
from shopfleet.shipping.models import (
    ADDRESS_FIELDS,
    AddressList,
    AddressPublic,
    AddressUpdate,
    MethodCreate,
    MethodDeletion,
    MethodList,
    MethodPublic,
    MethodUpdate,
    PageKey,
    QuoteAsk,
    ShipmentCreate,
    ShipmentPublic,
    ShipmentsPage,
    ShipmentUpdate,
    method_public,
    new_id,
    shipment_public,
)
from shopfleet.shipping.settings import ShippingSettings
from shopfleet.shipping.store import ShippingStore
from shopfleet.shipping.upstreams import ShopCurrencies

log = structlog.get_logger("shopfleet.shipping")


class ShippingService:
    """The use cases, with the limits and the other services they need."""

    def __init__(
        self, settings: ShippingSettings, currencies: ShopCurrencies, catalog: CatalogClient
    ) -> None:
        self.settings, self.currencies, self.catalog = settings, currencies, catalog

    # ------------------------------------------------------------------------- methods

    async def list_methods(
        self, session: AsyncSession, shop: str, *, country: str | None, include_inactive: bool
    ) -> MethodList:
        found = await ShippingStore(session).methods(shop, include_inactive=include_inactive)
        shown = [m for m in found if country is None or costs.serves(m.countries, country)]
        return MethodList(items=[method_public(method) for method in shown])

    async def method(
        self, session: AsyncSession, shop: str, method_id: str, *, include_inactive: bool
    ) -> MethodPublic:
        found = await ShippingStore(session).method(shop, method_id)
        visible = methods.visible_method(found, shop, method_id, include_inactive=include_inactive)
        return method_public(visible)

    async def create_method(
        self, session: AsyncSession, shop: str, body: MethodCreate
    ) -> MethodPublic:
        """A method priced in the shop's currency (asked of identity)."""
        store = ShippingStore(session)
        currency = methods.shop_currency(await self.currencies.currency(shop), body.currency)
        most = self.settings.max_methods_per_shop
        edits.check_method_room(await store.count_methods(shop), most)
        now = utcnow()
        method = MethodRecord(
            **body.model_dump(exclude={"currency"}),
            currency=currency,
            created_at=now,
            updated_at=now,
            version=1,
        )
        if not await store.insert_method(shop, method):
            await session.rollback()
            raise MethodIdTaken(
                "body.id",
                f"'{body.id}' is already a shipping method of this shop; choose another id, "
                f"or PATCH /shipping/methods/{body.id}",
            )
        await session.commit()
        return method_public(method)

    async def update_method(
        self, session: AsyncSession, shop: str, method_id: str, body: MethodUpdate
    ) -> MethodPublic:
        store = ShippingStore(session)
        current = await store.method(shop, method_id, lock=True)
        if current is None:
            raise method_not_found(shop, method_id)
        changes = edits.changed_fields(current, body.model_dump(exclude_unset=True))
        if not changes:
            await session.rollback()
            return method_public(current)
        changed = methods.changed_method(current, changes, utcnow())
        names = (*changes, "version", "updated_at")
        await store.update_method(shop, method_id, {n: getattr(changed, n) for n in names})
        await session.commit()
        return method_public(changed)

    async def delete_method(
        self, session: AsyncSession, shop: str, method_id: str
    ) -> MethodDeletion:
        """Delete an unused method; one that shipments use is deactivated instead."""
        store = ShippingStore(session)
        current = await store.method(shop, method_id, lock=True)
        if current is None:
            raise method_not_found(shop, method_id)
        deletion = methods.method_deletion(current, await store.method_used(shop, method_id))
        if deletion is Deletion.DELETE:
            await store.delete_method(shop, method_id)
        elif deletion is Deletion.DEACTIVATE:
            columns = {"active": False, "version": current.version + 1, "updated_at": utcnow()}
            await store.update_method(shop, method_id, columns)
        await session.commit()
        return MethodDeletion(id=method_id, outcome=deletion.outcome)

    # ------------------------------------------------------------------------- addresses

    async def list_addresses(self, session: AsyncSession, shop: str, user_id: str) -> AddressList:
        return AddressList(items=await ShippingStore(session).addresses(shop, user_id))

    async def read_address(
        self, session: AsyncSession, shop: str, user_id: str, address_id: str
    ) -> AddressPublic:
        found = await ShippingStore(session).address(shop, user_id, address_id)
        if found is None:
            raise AddressNotFound.of(address_id)
        return found

    async def address(
        self, session: AsyncSession, shop: str, user_id: str, address_id: str
    ) -> Address:
        """The bare address (for quotes and orders) if it is `user_id`'s."""
        found = await self.read_address(session, shop, user_id, address_id)
        return Address.model_validate(found.model_dump(include=set(ADDRESS_FIELDS)))

    async def create_address(
        self, session: AsyncSession, shop: str, user_id: str, body: Address
    ) -> AddressPublic:
        store = ShippingStore(session)
        most = self.settings.max_addresses_per_user
        edits.check_address_room(await store.count_addresses(shop, user_id), most)
        now = utcnow()
        stamps = {"id": new_id(), "created_at": now, "updated_at": now}
        address = AddressPublic.model_validate(body.model_dump() | stamps)
        await store.insert_address(shop, user_id, address)
        await session.commit()
        return address

    async def update_address(
        self, session: AsyncSession, shop: str, user_id: str, address_id: str, body: AddressUpdate
    ) -> AddressPublic:
        # Each field was validated, and the required ones cannot be nulled: still an Address.
        current = await self.read_address(session, shop, user_id, address_id)
        changes = edits.changed_fields(current, body.model_dump(exclude_unset=True))
        if not changes:
            await session.rollback()
            return current
        changes["updated_at"] = utcnow()
        await ShippingStore(session).update_address(shop, user_id, address_id, changes)
        await session.commit()
        return AddressPublic.model_validate(current.model_dump() | changes)

    async def delete_address(
        self, session: AsyncSession, shop: str, user_id: str, address_id: str
    ) -> None:
        if not await ShippingStore(session).delete_address(shop, user_id, address_id):
            await session.rollback()
            raise AddressNotFound.of(address_id)
        await session.commit()

    # ------------------------------------------------------------------------- quotes

    async def rates_on_offer(self, session: AsyncSession, shop: str, method_id: str) -> costs.Rates:
        """The rates of a method on offer (unknown or retired: not found)."""
        found = await ShippingStore(session).method(shop, method_id)
        return costs.rates_on_offer(found, shop, method_id)

    async def quote_priced(self, session: AsyncSession, shop: str, request: QuoteRequest) -> Quote:
        """Orders' quote of lines it priced already."""
        rates = await self.rates_on_offer(session, shop, request.method_id)
        return costs.quote(rates, request.address.country, request.lines)

    async def quote_for_shopper(
        self, session: AsyncSession, shop: str, rates: costs.Rates, ask: QuoteAsk, owner: str
    ) -> Quote:
        """A shopper's quote of products catalog prices and weighs, to the address sent or
        to a saved address of `owner` (the signed-in shopper)."""
        address = ask.address
        if address is None:
            address = await self.address(session, shop, owner, ask.address_id or "")
        found = await self.catalog.lookup(shop, [line.product_id for line in ask.lines])
        items = [(line.product_id, line.quantity) for line in ask.lines]
        return costs.quote(rates, address.country, costs.priced_lines(items, found))

    # ------------------------------------------------------------------------- shipments

    async def shipment(
        self, session: AsyncSession, shop: str, shipment_id: str, who: Principal
    ) -> ShipmentPublic:
        """A shipment; someone else's (unless an admin asks) is not found."""
        found = await ShippingStore(session).shipment(shop, shipment_id)
        seen = shipments.seen_by(found, shipment_id, user_id=who.user_id, is_admin=who.is_admin)
        return shipment_public(seen)

    async def list_shipments(
        self,
        session: AsyncSession,
        shop: str,
        who: Principal,
        *,
        status: str | None,
        order_id: str | None,
        user_id: str | None,
        limit: int,
        after: PageKey | None,
    ) -> ShipmentsPage:
        """Newest first. A shopper sees their own; an admin all, or `user_id`'s if given."""
        owner = shipments.listed_user(who.user_id, is_admin=who.is_admin, asked=user_id)
        found, more = await ShippingStore(session).shipments_page(
            shop, user_id=owner, status=status, order_id=order_id, after=after, limit=limit
        )
        next_cursor = PageKey(found[-1].created_at, found[-1].id).cursor() if more else None
        return ShipmentsPage(items=[shipment_public(s) for s in found], next_cursor=next_cursor)

    async def create_shipment(
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

    async def update_shipment(
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

    async def delete_shipment(self, session: AsyncSession, shop: str, shipment_id: str) -> None:
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
