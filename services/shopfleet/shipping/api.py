"""Shipping's HTTP routes: thin wrappers that validate input and call the domain modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from shopfleet.kit.auth import (
    SHOP_API_PREFIX,
    AdminUser,
    CurrentUser,
    OptionalUser,
    OwnerOrAdmin,
    ShopId,
)
from shopfleet.kit.contracts import ids
from shopfleet.kit.contracts.clients.catalog import CatalogClient
from shopfleet.kit.contracts.events import ShipmentStatus
from shopfleet.kit.contracts.shipping import Address, Quote
from shopfleet.kit.countries import CountryCode
from shopfleet.kit.db import ReaderDep, SessionDep
from shopfleet.kit.errors import Problem
from shopfleet.shipping import addresses, methods, quotes, shipments
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
from shopfleet.shipping.settings import ShippingSettings


@dataclass(frozen=True, slots=True)
class Shipping:
    """What the routes need besides a session: limits and the clients of other services."""

    settings: ShippingSettings
    currencies: methods.ShopCurrencies
    catalog: CatalogClient


async def _shipping(request: Request) -> Shipping:  # async: a def would run in a thread
    return request.app.state.shipping


ShippingDep = Annotated[Shipping, Depends(_shipping)]
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
    return await methods.list_methods(
        session, shop, country=country, include_inactive=include_inactive
    )


@router.get("/shipping/methods/{method_id}", tags=["shipping"])
async def read_method(
    shop: ShopId, method_id: MethodIdPath, session: ReaderDep, user: OptionalUser
) -> MethodPublic:
    """One method; an inactive one only for admins."""
    return await methods.get_method(
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
    created = await methods.create_method(
        session,
        shop,
        body,
        shipping.currencies,
        max_methods=shipping.settings.max_methods_per_shop,
    )
    _location(response, shop, f"/shipping/methods/{created.id}")
    return created


@router.patch("/shipping/methods/{method_id}", tags=["shipping"])
async def update_method(
    shop: ShopId,
    method_id: MethodIdPath,
    body: MethodUpdate,
    _admin: AdminUser,
    session: SessionDep,
) -> MethodPublic:
    """Change a method (admin); only the fields sent change. Quotes use the new rates."""
    return await methods.update_method(session, shop, method_id, body)


@router.delete("/shipping/methods/{method_id}", tags=["shipping"])
async def delete_method(
    shop: ShopId, method_id: MethodIdPath, _admin: AdminUser, session: SessionDep
) -> MethodDeletion:
    """Delete a method (admin); one that shipments use is deactivated instead."""
    return await methods.delete_method(session, shop, method_id)


# ----------------------------------------------------------------------------- addresses


@router.get("/shipping/addresses", tags=["shipping"])
async def list_addresses(shop: ShopId, user: CurrentUser, session: ReaderDep) -> AddressList:
    """Your saved addresses, oldest first."""
    return await addresses.list_addresses(session, shop, user.user_id)


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
    created = await addresses.create_address(
        session, shop, user.user_id, body, limit=shipping.settings.max_addresses_per_user
    )
    _location(response, shop, f"/shipping/addresses/{created.id}")
    return created


@router.get("/shipping/addresses/{address_id}", tags=["shipping"])
async def read_address(
    shop: ShopId, address_id: AddressIdPath, user: CurrentUser, session: ReaderDep
) -> AddressPublic:
    return await addresses.read_address(session, shop, user.user_id, address_id)


@router.patch("/shipping/addresses/{address_id}", tags=["shipping"])
async def update_address(
    shop: ShopId,
    address_id: AddressIdPath,
    body: AddressUpdate,
    user: CurrentUser,
    session: SessionDep,
) -> AddressPublic:
    """Change your address; only the fields sent change."""
    return await addresses.update_address(session, shop, user.user_id, address_id, body)


@router.delete(
    "/shipping/addresses/{address_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["shipping"]
)
async def delete_address(
    shop: ShopId, address_id: AddressIdPath, user: CurrentUser, session: SessionDep
) -> None:
    await addresses.delete_address(session, shop, user.user_id, address_id)


# ----------------------------------------------------------------------------- quotes


@router.post("/shipping/quote", tags=["shipping"])
async def quote(
    shop: ShopId, body: QuoteAsk, user: OptionalUser, session: ReaderDep, shipping: ShippingDep
) -> Quote:
    """What a method charges for these products to this address, and how long it takes.

    Prices and weights come from the catalog. 404: unknown method; 422: the method does
    not ship to the address's country, or a product is not for sale.
    """
    return await quotes.quote_for_shopper(session, shop, body, user, shipping.catalog)


# ----------------------------------------------------------------------------- shipments


@router.get("/shipments", tags=["shipments"])
async def list_shipments(
    shop: ShopId,
    user: OwnerOrAdmin,
    session: ReaderDep,
    status_: Annotated[ShipmentStatus | None, Query(alias="status")] = None,
    order_id: Annotated[ids.OrderRef | None, Query()] = None,
    user_id: Annotated[ids.UserRef | None, Query(alias="user", description="Admins only.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ShipmentsPage:
    """Your shipments, newest first; an admin sees all of the shop's (filter by `user`)."""
    return await shipments.list_shipments(
        session,
        shop,
        user,
        status=status_,
        order_id=order_id,
        user_id=user_id,
        limit=limit,
        cursor=cursor,
    )


@router.get("/shipments/{shipment_id}", tags=["shipments"])
async def read_shipment(
    shop: ShopId, shipment_id: ShipmentIdPath, user: OwnerOrAdmin, session: ReaderDep
) -> ShipmentPublic:
    """One of your shipments (any, for an admin), with its status history."""
    return await shipments.get_shipment(session, shop, shipment_id, user)


@router.post("/shipments", status_code=status.HTTP_201_CREATED, tags=["shipments"])
async def create_shipment(
    shop: ShopId, body: ShipmentCreate, admin: AdminUser, session: SessionDep, response: Response
) -> ShipmentPublic:
    """Create an order's shipment by hand (admin); 409 if the order has one."""
    created = await shipments.create_manual(session, shop, body, admin.user_id)
    _location(response, shop, f"/shipments/{created.id}")
    return created


@router.patch("/shipments/{shipment_id}", tags=["shipments"])
async def update_shipment(
    shop: ShopId,
    shipment_id: ShipmentIdPath,
    body: ShipmentUpdate,
    admin: AdminUser,
    session: SessionDep,
) -> ShipmentPublic:
    """Move a shipment on and/or set its carrier and tracking number (admin).

    pending → packed → shipped → in_transit → delivered (steps may be skipped forward);
    returned after it left; cancelled before. Emits `shipment.status_changed`.
    """
    return await shipments.update_shipment(session, shop, shipment_id, body, admin.user_id)


@router.delete(
    "/shipments/{shipment_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["shipments"]
)
async def delete_shipment(
    shop: ShopId, shipment_id: ShipmentIdPath, _admin: AdminUser, session: SessionDep
) -> None:
    """Delete a pending or cancelled shipment (admin)."""
    await shipments.delete_shipment(session, shop, shipment_id)
