"""What shipping asks other services, by service invocation: identity for a shop's
currency (when an admin creates a method), catalog for products' prices and weights
(when a shopper asks for a quote). Whatever goes wrong on their side is one 503 problem.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from pydantic import ValidationError

from shopfleet.kit.blocks import Invoker, ServiceUnavailable
from shopfleet.kit.contracts.catalog import (
    LOOKUP_PATH,
    ProductLookup,
    ProductLookupResult,
    ProductSnapshot,
)
from shopfleet.kit.contracts.tenants import SETTINGS_PATH, ShopSettings
from shopfleet.kit.errors import NotFound, Problem

log = structlog.get_logger("shopfleet.shipping.clients")

_JSON = [(b"content-type", b"application/json")]


def _unavailable(what: str, service: str) -> Problem:
    return Problem(
        503, f"Cannot read {what} right now ({service} is unavailable); retry shortly.",
        slug=f"{service}-unavailable", headers={"Retry-After": "5"},
    )  # fmt: skip


class ShopCurrencies:
    """A shop's currency from identity, remembered (a shop's currency never changes)."""

    def __init__(self, invoker: Invoker, *, app_id: str, timeout_s: float) -> None:
        self.invoker, self.app_id, self.timeout_s = invoker, app_id, timeout_s
        self._known: dict[str, str] = {}

    async def currency(self, shop: str) -> str:
        known = self._known.get(shop)
        if known is not None:
            return known
        try:
            answer = await self.invoker.invoke(
                self.app_id, "GET", SETTINGS_PATH.format(shop=shop), timeout_s=self.timeout_s
            )
        except ServiceUnavailable as exc:
            log.warning("shop settings unavailable", shop=shop, reason=exc.reason)
            raise _unavailable("this shop's settings", "identity") from None
        if answer.status == 404:
            raise NotFound(f"Shop '{shop}' does not exist.", slug="shop-not-found")
        if answer.status != 200:
            log.warning("shop settings refused", shop=shop, status=answer.status)
            raise _unavailable("this shop's settings", "identity")
        try:
            settings = ShopSettings.model_validate_json(answer.body)
        except ValidationError:
            raise _unavailable("this shop's settings", "identity") from None
        self._known[shop] = settings.currency
        return settings.currency


class CatalogProducts:
    """Catalog's product lookup: current prices and weights of up to 100 products."""

    def __init__(self, invoker: Invoker, *, app_id: str, timeout_s: float) -> None:
        self.invoker, self.app_id, self.timeout_s = invoker, app_id, timeout_s

    async def lookup(self, shop: str, ids: Sequence[str]) -> dict[str, ProductSnapshot]:
        """The snapshots catalog knows, by id (unknown ids are absent)."""
        wanted = list(dict.fromkeys(ids))
        body = ProductLookup(ids=wanted).model_dump_json().encode()
        try:
            answer = await self.invoker.invoke(
                self.app_id, "POST", LOOKUP_PATH.format(shop=shop), body=body, headers=_JSON,
                timeout_s=self.timeout_s,
            )  # fmt: skip
        except ServiceUnavailable as exc:
            log.warning("catalog unavailable", reason=exc.reason, timed_out=exc.timed_out)
            raise _unavailable("product prices and weights", "catalog") from None
        if answer.status != 200:
            log.warning("catalog lookup failed", status=answer.status)
            raise _unavailable("product prices and weights", "catalog")
        try:
            result = ProductLookupResult.model_validate_json(answer.body)
        except ValidationError:
            raise _unavailable("product prices and weights", "catalog") from None
        return {item.id: item for item in result.items if item.id in wanted}
