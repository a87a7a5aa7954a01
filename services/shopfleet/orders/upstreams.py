"""Cart, catalog and shipping as orders sees them, through their typed clients
(`kit.contracts.clients`).

A service that cannot be reached, times out or answers something unexpected is one 503
(`<service>-unavailable`, with Retry-After) in orders' words: the shopper's request
changed nothing. Answers that are the shopper's mistake (an unknown address or shipping
method) are 422s naming the field to fix.
"""

from __future__ import annotations

from typing import Literal

from shopfleet.kit.blocks import Invoker
from shopfleet.kit.contracts.cart import CartLines
from shopfleet.kit.contracts.catalog import ProductSnapshot, ReservationResult, ReserveRequest
from shopfleet.kit.contracts.clients.base import Wording
from shopfleet.kit.contracts.clients.cart import CartClient
from shopfleet.kit.contracts.clients.catalog import CatalogClient
from shopfleet.kit.contracts.clients.shipping import CannotShip, NoSuchMethod, ShippingClient
from shopfleet.kit.contracts.shipping import Address, Quote, QuoteRequest
from shopfleet.kit.refusals import InvalidRefusal
from shopfleet.orders.domain.refusals import unavailable_detail

# What could not be done, by the client operation that failed.
_ACTIONS = {
    "lines": "your cart be read",
    "lookup": "prices be checked",
    "reserve": "stock be reserved",
    "release": "stock be released",
    "commit": "stock be committed",
    "address": "your saved address be read",
    "quote": "shipping be quoted",
}


WORDING = Wording(
    unavailable=lambda service, operation: unavailable_detail(service, _ACTIONS[operation]),
    bad_answer="unavailable",
)


class Upstreams:
    """Cart, catalog and shipping, each called by its own client."""

    def __init__(
        self,
        invoker: Invoker,
        *,
        timeout_s: float,
        cart: str = "cart",
        catalog: str = "catalog",
        shipping: str = "shipping",
    ) -> None:
        self.timeout_s = timeout_s
        self.cart = CartClient(invoker, app_id=cart, timeout_s=timeout_s, wording=WORDING)
        self.catalog = CatalogClient(invoker, app_id=catalog, timeout_s=timeout_s, wording=WORDING)
        self.shipping = ShippingClient(
            invoker, app_id=shipping, timeout_s=timeout_s, wording=WORDING
        )

    async def cart_lines(self, shop: str, user_id: str) -> CartLines:
        return await self.cart.lines(shop, user_id)

    async def products(self, shop: str, ids: list[str]) -> dict[str, ProductSnapshot]:
        """Snapshots of `ids` that catalog knows."""
        return await self.catalog.lookup(shop, ids)

    async def reserve(self, shop: str, order_id: str, request: ReserveRequest) -> ReservationResult:
        return await self.catalog.reserve(shop, order_id, request)

    async def release(self, shop: str, order_id: str) -> Literal["released", "kept"]:
        return await self.catalog.release(shop, order_id)

    async def commit(self, shop: str, order_id: str) -> Literal["committed", "not_reserved"]:
        return await self.catalog.commit(shop, order_id)

    async def address(self, shop: str, user_id: str, address_id: str) -> Address:
        address = await self.shipping.address(shop, user_id, address_id)
        if address is None:
            raise InvalidRefusal(
                "shipping_address_id",
                f"you have no saved address '{address_id}'",
                slug="unknown-address",
            )
        return address

    async def quote(self, shop: str, request: QuoteRequest) -> Quote:
        quote = await self.shipping.quote(shop, request)
        if isinstance(quote, NoSuchMethod):
            raise InvalidRefusal(
                "shipping_method",
                f"there is no shipping method '{request.method_id}' (see GET /shipping/methods)",
                slug="unknown-shipping-method",
            )
        if isinstance(quote, CannotShip):
            reason = quote.reason or (
                f"it does not ship to {request.address.country}; choose another method"
            )
            raise InvalidRefusal("shipping_method", reason, slug="shipping-method-unavailable")
        return quote
