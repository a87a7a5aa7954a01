"""Shipping's internal routes: a shopper's saved address and a quote (orders places and
re-quotes orders with them)."""

from __future__ import annotations

from dataclasses import dataclass

from shopfleet.kit.contracts.clients.base import ServiceClient, problem_detail
from shopfleet.kit.contracts.shipping import (
    ADDRESS_PATH,
    QUOTE_PATH,
    Address,
    Quote,
    QuoteRequest,
)


@dataclass(frozen=True)
class NoSuchMethod:
    """Shipping knows no method of the quote's id (a 404)."""


@dataclass(frozen=True)
class CannotShip:
    """The method does not ship to the address (a 422); `reason` is shipping's detail,
    empty when it gave none."""

    reason: str


class ShippingClient(ServiceClient):
    service = "shipping"

    async def address(self, shop: str, user_id: str, address_id: str) -> Address | None:
        """The shopper's saved address; None when the shopper has none of this id."""
        path = ADDRESS_PATH.format(shop=shop, user_id=user_id, address_id=address_id)
        response = await self.call("address", "GET", path)
        if response.status == 404:
            return None
        return self.parse(Address, response, "address")

    async def quote(self, shop: str, request: QuoteRequest) -> Quote | NoSuchMethod | CannotShip:
        response = await self.call("quote", "POST", QUOTE_PATH.format(shop=shop), body=request)
        if response.status == 404:
            return NoSuchMethod()
        if response.status == 422:
            return CannotShip(problem_detail(response))
        return self.parse(Quote, response, "quote")
