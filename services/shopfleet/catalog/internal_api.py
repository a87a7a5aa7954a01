"""Service-to-service routes (cart, orders): reachable by invocation, never via the gateway.

Paths and bodies are the contract in `kit.contracts.catalog`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from shopfleet.catalog import product_reads
from shopfleet.catalog.api import ShopSlug
from shopfleet.catalog.deps import Catalog
from shopfleet.catalog.service import stock
from shopfleet.kit.auth import ShopId
from shopfleet.kit.contracts import ids
from shopfleet.kit.contracts.catalog import (
    COMMIT_PATH,
    LOOKUP_PATH,
    RESERVATION_PATH,
    ProductLookup,
    ProductLookupResult,
    ReservationResult,
    ReserveRequest,
)
from shopfleet.kit.db import SessionDep

router = APIRouter(tags=["internal"])
OrderId = Annotated[ids.OrderRef, Path(description="The order's id.")]


@router.post(LOOKUP_PATH, response_model=ProductLookupResult)
async def lookup_products(shop: ShopSlug, body: ProductLookup, request: Request) -> Response:
    """Current snapshots (price, availability) of up to 100 products."""
    # Cart asks on every cart read: no dependency functions (each costs a solving step).
    catalog: Catalog = request.app.state.catalog
    answer = await product_reads.lookup(catalog.listing, shop, body.ids)
    return Response(answer, media_type="application/json")


@router.put(RESERVATION_PATH)
async def reserve(
    shop: ShopId, order_id: OrderId, body: ReserveRequest, session: SessionDep
) -> ReservationResult:
    """Reserve every line or none (`rejected`, with shortages); the same order id again
    answers the same outcome."""
    return await stock.reserve(session, shop, order_id, body)


@router.post(COMMIT_PATH)
async def commit(shop: ShopId, order_id: OrderId, session: SessionDep) -> ReservationResult:
    """The order is paid: reserved units leave the stock. Idempotent."""
    return await stock.commit(session, shop, order_id)


@router.delete(RESERVATION_PATH)
async def release(shop: ShopId, order_id: OrderId, session: SessionDep) -> ReservationResult:
    """The order is cancelled: its units are for sale again (reserved ones are freed, those
    of a paid order go back on hand). Idempotent."""
    return await stock.release(session, shop, order_id)
