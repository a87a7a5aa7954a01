"""A small client of catalog's product lookup, by service invocation.

One call answers for every line of a cart (chunked at the contract's 100 ids). Whatever
goes wrong on catalog's side becomes one 503 problem: the cart cannot be priced now, and
nothing was changed (the cart looks up prices before it writes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import structlog
from pydantic import ValidationError

from shopfleet.kit.blocks import Invoker, ServiceUnavailable
from shopfleet.kit.contracts.catalog import (
    LOOKUP_PATH,
    ProductLookup,
    ProductLookupResult,
    ProductSnapshot,
)
from shopfleet.kit.errors import Problem

log = structlog.get_logger("shopfleet.cart.catalog")

CATALOG_APP_ID = "catalog"
_LOOKUP_MAX = 100  # ids per call, as ProductLookup allows
_JSON = (b"content-type", b"application/json")

# What a lookup answered, by product id: a product catalog does not know is absent.
Snapshots = Mapping[str, ProductSnapshot]


def sellable(snapshot: ProductSnapshot | None) -> bool:
    return snapshot is not None and snapshot.active


class CatalogUnavailable(Problem):
    def __init__(self) -> None:
        super().__init__(
            503,
            "Prices and stock cannot be checked right now because the catalog is unavailable; "
            "your cart is unchanged. Retry in a few seconds.",
            slug="catalog-unavailable",
            headers={"Retry-After": "5"},
        )


class CatalogClient:
    def __init__(self, invoker: Invoker, *, timeout_s: float, app_id: str = CATALOG_APP_ID) -> None:
        self._invoker = invoker
        self._timeout_s = timeout_s
        self._app_id = app_id

    async def lookup(
        self, shop: str, ids: Iterable[str], *, headers: Iterable[tuple[bytes, bytes]] = ()
    ) -> dict[str, ProductSnapshot]:
        """The snapshots of `ids` that catalog knows (deleted or unknown ids are absent)."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, ProductSnapshot] = {}
        path = LOOKUP_PATH.format(shop=shop)
        extra = [_JSON, *headers]
        for start in range(0, len(wanted), _LOOKUP_MAX):
            chunk = wanted[start : start + _LOOKUP_MAX]
            body = ProductLookup(ids=chunk).model_dump_json().encode()
            try:
                answer = await self._invoker.invoke(
                    self._app_id, "POST", path, body=body, headers=extra, timeout_s=self._timeout_s
                )
            except ServiceUnavailable as exc:
                log.warning("catalog unavailable", reason=exc.reason, timed_out=exc.timed_out)
                raise CatalogUnavailable() from None
            if answer.status != 200:
                log.warning(
                    "catalog lookup failed",
                    status=answer.status,
                    body=answer.body[:300].decode("utf-8", "replace"),
                )
                raise CatalogUnavailable()
            try:
                result = ProductLookupResult.model_validate_json(answer.body)
            except ValidationError as exc:
                log.warning("catalog lookup answered nonsense", error=str(exc)[:300])
                raise CatalogUnavailable() from None
            for item in result.items:
                if item.id in chunk:  # never trust an answer for a product we did not ask for
                    found[item.id] = item
        return found
