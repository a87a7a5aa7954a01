"""Catalog's internal routes: product lookups (cart, orders, shipping) and stock
reservations (orders)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from shopfleet.kit.contracts.catalog import (
    COMMIT_PATH,
    LOOKUP_MAX_IDS,
    LOOKUP_PATH,
    RESERVATION_PATH,
    ProductLookup,
    ProductLookupResult,
    ProductSnapshot,
    ReservationResult,
    ReserveRequest,
)
from shopfleet.kit.contracts.clients.base import ServiceClient, problem_slug


class CatalogClient(ServiceClient):
    service = "catalog"

    async def lookup(
        self, shop: str, ids: Iterable[str], *, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> dict[str, ProductSnapshot]:
        """The snapshots of `ids` that catalog knows (deleted products come back inactive;
        unknown ids are absent), asked `LOOKUP_MAX_IDS` at a time."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, ProductSnapshot] = {}
        path = LOOKUP_PATH.format(shop=shop)
        for start in range(0, len(wanted), LOOKUP_MAX_IDS):
            chunk = wanted[start : start + LOOKUP_MAX_IDS]
            response = await self.call(
                "lookup", "POST", path, body=ProductLookup(ids=chunk), headers=headers
            )
            result = self.parse(ProductLookupResult, response, "lookup")
            asked = set(chunk)  # never trust an answer for a product we did not ask for
            found.update((item.id, item) for item in result.items if item.id in asked)
        return found

    async def reserve(self, shop: str, order_id: str, request: ReserveRequest) -> ReservationResult:
        """Reserve the order's lines (asking again answers the same outcome)."""
        path = RESERVATION_PATH.format(shop=shop, order_id=order_id)
        response = await self.call("reserve", "PUT", path, body=request)
        return self.parse(ReservationResult, response, "reserve")

    async def release(self, shop: str, order_id: str) -> Literal["released", "kept"]:
        """Put the order's reserved units back on sale. `kept`: catalog had committed them
        (they left with the order) and refuses to release; a 404: nothing was reserved."""
        path = RESERVATION_PATH.format(shop=shop, order_id=order_id)
        response = await self.call("release", "DELETE", path)
        if response.status == 404:
            return "released"  # never reserved: nothing to give back
        if response.status == 409 and problem_slug(response) == "reservation-committed":
            return "kept"
        result = self.parse(ReservationResult, response, "release")
        return "kept" if result.status == "committed" else "released"

    async def commit(self, shop: str, order_id: str) -> Literal["committed", "not_reserved"]:
        """The reserved units leave with the order; `not_reserved` when none were held."""
        path = COMMIT_PATH.format(shop=shop, order_id=order_id)
        response = await self.call("commit", "POST", path)
        if response.status in (404, 409):
            return "not_reserved"
        self.parse(ReservationResult, response, "commit")
        return "committed"
