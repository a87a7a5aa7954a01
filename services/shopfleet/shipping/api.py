"""Shipping's HTTP routes: thin wrappers that validate input and call `ShippingService`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from shopfleet.kit.auth import (
    SHOP_API_PREFIX,
    AdminUser,
    CurrentUser,
    OptionalUser,
    OwnerOrAdmin,
    ShopId,
    Unauthenticated,
)
from shopfleet.kit.contracts import ids
from shopfleet.kit.contracts.events import ShipmentStatus
from shopfleet.kit.contracts.shipping import Address, Quote
from shopfleet.kit.countries import CountryCode
from shopfleet.kit.cursors import PageEnd
from shopfleet.kit.db import ReaderDep, SessionDep
from shopfleet.kit.errors import Problem
from shopfleet.shipping.deps import ShippingDep
from shopfleet.shipping.models import (
    AddressList,
    AddressPublic,
    AddressUpdate,
    MethodCreate,
    MethodDeletion,
    MethodList,
    MethodPublic,
    MethodUpdate,
    QuoteAsk,
    ShipmentCreate,
    ShipmentPublic,
    ShipmentsPage,
    ShipmentUpdate,
)

MethodIdPath = Annotated[ids.ShippingMethodId, Path(description="The method's id (a slug).")]
AddressIdPath = Annotated[ids.AddressId, Path(description="The address's id.")]
ShipmentIdPath = Annotated[ids.ShipmentId, Path(description="The shipment's id.")]

router = APIRouter(prefix=SHOP_API_PREFIX)


def _location(response: Response, shop: str, path: str) -> None:
    response.headers["Location"] = SHOP_API_PREFIX.replace("{shop}", shop) + path


# ----------------------------------------------------------------------------- methods


@router.get("/shipping/methods", tags=["shipping"])
async def list_methods(
    shop: ShopId,
    session: ReaderDep,
    user: OptionalUser,
    shipping: ShippingDep,
    country: Annotated[
        CountryCode | None, Query(description="Only methods that ship to this country.")
    ] = None,
    include_inactive: Annotated[
        bool, Query(description="Admins: list inactive methods too.")
    ] = False,
) -> MethodList:
    """The shop's shipping methods on offer, cheapest base price first."""
    if include_inactive and not (user and user.is_admin):
        raise Problem(403, "Only a shop Admin may list inactive methods; omit include_inactive.")
    return await shipping.list_methods(
        session, shop, country=country, include_inactive=include_inactive
    )


@router.get("/shipping/methods/{method_id}", tags=["shipping"])
async def read_method(
    shop: ShopId,
    method_id: MethodIdPath,
    session: ReaderDep,
    user: OptionalUser,
    shipping: ShippingDep,
) -> MethodPublic:
    """One method; an inactive one only for admins."""
    return await shipping.method(
        session, shop, method_id, include_inactive=bool(user and user.is_admin)
    )


@router.post("/shipping/methods", status_code=status.HTTP_201_CREATED, tags=["shipping"])
async def create_method(
    shop: ShopId,
    body: MethodCreate,
    _admin: AdminUser,
    session: SessionDep,
    shipping: ShippingDep,
    response: Response,
) -> MethodPublic:
    """Create a shipping method (admin), priced in the shop's currency; its id is yours."""
    created = await shipping.create_method(session, shop, body)
    _location(response, shop, f"/shipping/methods/{created.id}")
    return created


@router.patch("/shipping/methods/{method_id}", tags=["shipping"])
async def update_method(
    shop: ShopId,
    method_id: MethodIdPath,
    body: MethodUpdate,
    _admin: AdminUser,
    session: SessionDep,
    shipping: ShippingDep,
) -> MethodPublic:
    """Change a method (admin); only the fields sent change. Quotes use the new rates."""
    return await shipping.update_method(session, shop, method_id, body)


@router.delete("/shipping/methods/{method_id}", tags=["shipping"])
async def delete_method(
    shop: ShopId,
    method_id: MethodIdPath,
    _admin: AdminUser,
    session: SessionDep,
    shipping: ShippingDep,
) -> MethodDeletion:
    """Delete a method (admin); one that shipments use is deactivated instead."""
    return await shipping.delete_method(session, shop, method_id)


# ----------------------------------------------------------------------------- addresses


@router.get("/shipping/addresses", tags=["shipping"])
async def list_addresses(
    shop: ShopId, user: CurrentUser, session: ReaderDep, shipping: ShippingDep
) -> AddressList:
    """Your saved addresses, oldest first."""
    return await shipping.list_addresses(session, shop, user.user_id)


@router.post("/shipping/addresses", status_code=status.HTTP_201_CREATED, tags=["shipping"])
async def create_address(
    shop: ShopId,
    body: Address,
    user: CurrentUser,
    session: SessionDep,
    shipping: ShippingDep,
    response: Response,
) -> AddressPublic:
    """Save an address (country: ISO 3166-1 alpha-2; postal code required)."""
    created = await shipping.create_address(session, shop, user.user_id, body)
    _location(response, shop, f"/shipping/addresses/{created.id}")
    return created


@router.get("/shipping/addresses/{address_id}", tags=["shipping"])
async def read_address(
    shop: ShopId,
    address_id: AddressIdPath,
    user: CurrentUser,
    session: ReaderDep,
    shipping: ShippingDep,
) -> AddressPublic:
    return await shipping.read_address(session, shop, user.user_id, address_id)


@router.patch("/shipping/addresses/{address_id}", tags=["shipping"])
async def update_address(
    shop: ShopId,
    address_id: AddressIdPath,
    body: AddressUpdate,
    user: CurrentUser,
    session: SessionDep,
    shipping: ShippingDep,
) -> AddressPublic:
    """Change your address; only the fields sent change."""
    return await shipping.update_address(session, shop, user.user_id, address_id, body)


@router.delete(
    "/shipping/addresses/{address_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["shipping"]
)
async def delete_address(
    shop: ShopId,
    address_id: AddressIdPath,
    user: CurrentUser,
    session: SessionDep,
    shipping: ShippingDep,
) -> None:
    await shipping.delete_address(session, shop, user.user_id, address_id)


# ----------------------------------------------------------------------------- quotes


@router.post("/shipping/quote", tags=["shipping"])
async def quote(
    shop: ShopId, body: QuoteAsk, user: OptionalUser, session: ReaderDep, shipping: ShippingDep
) -> Quote:
    """What a method charges for these products to this address, and how long it takes.

    Prices and weights come from the catalog. 404: unknown method; 422: the method does
    not ship to the address's country, or a product is not for sale.
    """
    rates = await shipping.rates_on_offer(session, shop, body.method_id)  # a 404 comes first
    if body.address is None and user is None:
        raise Unauthenticated("Log in to quote to a saved address, or send the `address` itself.")
    owner = user.user_id if user is not None else ""
    return await shipping.quote_for_shopper(session, shop, rates, body, owner)


# ----------------------------------------------------------------------------- shipments


@router.get("/shipments", tags=["shipments"])
async def list_shipments(
    shop: ShopId,
    user: OwnerOrAdmin,
    session: ReaderDep,
    shipping: ShippingDep,
    status_: Annotated[ShipmentStatus | None, Query(alias="status")] = None,
    order_id: Annotated[ids.OrderRef | None, Query()] = None,
    user_id: Annotated[ids.UserRef | None, Query(alias="user", description="Admins only.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ShipmentsPage:
    """Your shipments, newest first; an admin sees all of the shop's (filter by `user`)."""
    return await shipping.shipments.page(
        session,
        shop,
        user,
        status=status_,
        order_id=order_id,
        user_id=user_id,
        limit=limit,
        after=PageEnd.from_cursor(cursor) if cursor else None,
    )


@router.get("/shipments/{shipment_id}", tags=["shipments"])
async def read_shipment(
    shop: ShopId,
    shipment_id: ShipmentIdPath,
    user: OwnerOrAdmin,
    session: ReaderDep,
    shipping: ShippingDep,
) -> ShipmentPublic:
    """One of your shipments (any, for an admin), with its status history."""
    return await shipping.shipments.get(session, shop, shipment_id, user)


@router.post("/shipments", status_code=status.HTTP_201_CREATED, tags=["shipments"])
async def create_shipment(
    shop: ShopId,
    body: ShipmentCreate,
    admin: AdminUser,
    session: SessionDep,
    shipping: ShippingDep,
    response: Response,
) -> ShipmentPublic:
    """Create an order's shipment by hand (admin); 409 if the order has one."""
    created = await shipping.shipments.create(session, shop, body, admin.user_id)
    _location(response, shop, f"/shipments/{created.id}")
    return created


@router.patch("/shipments/{shipment_id}", tags=["shipments"])
async def update_shipment(
    shop: ShopId,
    shipment_id: ShipmentIdPath,
    body: ShipmentUpdate,
    admin: AdminUser,
    session: SessionDep,
    shipping: ShippingDep,
) -> ShipmentPublic:
    """Move a shipment on and/or set its carrier and tracking number (admin).

    pending → packed → shipped → in_transit → delivered (steps may be skipped forward);
    returned after it left; cancelled before. Emits `shipment.status_changed`.
    """
    return await shipping.shipments.update(session, shop, shipment_id, body, admin.user_id)


@router.delete(
    "/shipments/{shipment_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["shipments"]
)
async def delete_shipment(
    shop: ShopId,
    shipment_id: ShipmentIdPath,
    _admin: AdminUser,
    session: SessionDep,
    shipping: ShippingDep,
) -> None:
    """Delete a pending or cancelled shipment (admin)."""
    await shipping.shipments.delete(session, shop, shipment_id)
