"""Service-to-service routes (orders): reachable by invocation, never via the gateway.

Paths and bodies are the contract in `kit.contracts.cart`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from shopfleet.cart.deps import CheckoutDep
from shopfleet.kit.auth import ShopId
from shopfleet.kit.contracts import ids
from shopfleet.kit.contracts.cart import CART_LINES_PATH, CartLines

router = APIRouter(tags=["internal"])
# A token's `sub`, as a reference: nothing that could reach another key of the cart's layout.
UserId = Annotated[ids.UserRef, Path(description="The shopper's user id.")]


@router.get(CART_LINES_PATH)
async def cart_lines(shop: ShopId, user_id: UserId, checkout: CheckoutDep) -> CartLines:
    """A signed-in shopper's cart lines (product and quantity, no prices) and the cart's
    version; empty if the shopper has no cart. While the cart is as an order emptied it,
    the lines that order read and its id (`ordered_by`)."""
    return await checkout.lines(shop, user_id)
