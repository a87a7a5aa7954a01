"""Identity and catalog as shipping sees them, through their typed clients
(`kit.contracts.clients`): a shop's currency, and products' prices and weights."""

from __future__ import annotations

from shopfleet.kit.contracts.clients.base import Wording
from shopfleet.kit.contracts.clients.identity import IdentityClient


class ShopCurrencies:
    """A shop's currency from identity, remembered (a shop's currency never changes)."""

    def __init__(self, identity: IdentityClient) -> None:
        self.identity = identity
        self._known: dict[str, str] = {}

    async def currency(self, shop: str) -> str:
        known = self._known.get(shop)
        if known is None:
            known = self._known[shop] = (await self.identity.settings(shop)).currency
        return known


def _cannot_price(service: str, operation: str) -> str:
    return (
        f"Cannot read product prices and weights right now ({service} is unavailable); "
        "retry shortly."
    )


# A shopper's quote says catalog is down the way it always did; a bad answer says the same.
CATALOG_WORDING = Wording(unavailable=_cannot_price, bad_answer="unavailable")
