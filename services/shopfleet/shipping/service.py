"""Shipping's use cases: methods, saved addresses and quotes here; shipments (and the
events that make and cancel them) in `shipments.py`, reached as `ShippingService.shipments`.

Each loads what it needs (`store.py`), lets the domain decide (`domain/`), then stores the
change in the caller's session and commits it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.kit.contracts.clients.catalog import CatalogClient
from shopfleet.kit.contracts.shipping import Address, Quote, QuoteRequest
from shopfleet.kit.db import utcnow
from shopfleet.shipping.domain import costs, edits, methods
from shopfleet.shipping.domain.methods import Deletion, MethodRecord
from shopfleet.shipping.domain.refusals import (
    AddressNotFound,
    MethodIdTaken,
    method_not_found,
)
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
    QuoteAsk,
    method_public,
    new_id,
)
from shopfleet.shipping.settings import ShippingSettings
from shopfleet.shipping.shipments import Shipments
from shopfleet.shipping.store import ShippingStore
from shopfleet.shipping.upstreams import ShopCurrencies


class ShippingService:
    """The use cases, with the limits and the other services they need."""

    def __init__(
        self, settings: ShippingSettings, currencies: ShopCurrencies, catalog: CatalogClient
    ) -> None:
        self.settings, self.currencies, self.catalog = settings, currencies, catalog
        self.shipments = Shipments()

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
