"""Cart's internal route: a signed-in shopper's cart lines (orders checks them out)."""

from __future__ import annotations

from shopfleet.kit.contracts.cart import CART_LINES_PATH, CartLines
from shopfleet.kit.contracts.clients.base import ServiceClient


class CartClient(ServiceClient):
    service = "cart"

    async def lines(self, shop: str, user_id: str) -> CartLines:
        """The shopper's lines and the cart's version (no lines when there is no cart)."""
        path = CART_LINES_PATH.format(shop=shop, user_id=user_id)
        return self.parse(CartLines, await self.call("lines", "GET", path), "lines")
