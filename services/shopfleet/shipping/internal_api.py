"""Service-to-service routes (orders): reachable by invocation, never via the gateway.

Paths and bodies are the contract in `kit.contracts.shipping`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from shopfleet.kit.auth import ShopId
from shopfleet.kit.contracts import ids
from shopfleet.kit.contracts.shipping import ADDRESS_PATH, QUOTE_PATH, Address, Quote, QuoteRequest
from shopfleet.kit.db import ReaderDep
from shopfleet.shipping.deps import ShippingDep

router = APIRouter(tags=["internal"])
UserIdPath = Annotated[ids.UserRef, Path()]
AddressIdPath = Annotated[ids.AddressId, Path()]


@router.get(ADDRESS_PATH)
async def read_address(
    shop: ShopId,
    user_id: UserIdPath,
    address_id: AddressIdPath,
    session: ReaderDep,
    shipping: ShippingDep,
) -> Address:
    """A shopper's saved address; 404 unless it is that shopper's."""
    return await shipping.address(session, shop, user_id, address_id)


@router.post(QUOTE_PATH)
async def quote(
    shop: ShopId, body: QuoteRequest, session: ReaderDep, shipping: ShippingDep
) -> Quote:
    """Quote priced lines: 404 unknown or retired method, 422 country not served."""
    return await shipping.quote_priced(session, shop, body)
