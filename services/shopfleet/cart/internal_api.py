"""Service-to-service routes (orders): reachable by invocation, never via the gateway.

Paths and bodies are the contract in `kit.contracts.cart`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from shopfleet.cart.keys import CartRef
from shopfleet.cart.service import Carts
from shopfleet.kit.auth import ShopId
from shopfleet.kit.contracts import ids
from shopfleet.kit.contracts.cart import CART_LINES_PATH, CartLine, CartLines

router = APIRouter(tags=["internal"])
# A token's `sub`, as a reference: nothing that could reach another key of the cart's layout.
UserId = Annotated[ids.UserRef, Path(description="The shopper's user id.")]


@router.get(CART_LINES_PATH)
async def cart_lines(shop: ShopId, user_id: UserId, request: Request) -> CartLines:
    """A signed-in shopper's cart lines (product and quantity, no prices); empty if the
    shopper has no cart."""
    carts: Carts = request.app.state.carts
    loaded = await carts.store.load(CartRef.user(shop, user_id))
    lines = [
        CartLine(product_id=line.product_id, quantity=line.quantity) for line in loaded.cart.lines
    ]
    return CartLines(user_id=user_id, lines=lines, version=loaded.etag)
