"""The shops the catalog knows: a projection of identity's `shop.created`, and a fallback.

A product is priced in its shop's currency. The projection is filled by `shop.created`;
a shop the catalog has not heard of yet (it was created before the catalog subscribed,
or the event is still on its way) is asked of identity by service invocation, once.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.catalog.models import ShopRow
from shopfleet.kit.blocks import Invoker, ServiceUnavailable
from shopfleet.kit.contracts.tenants import SETTINGS_PATH, ShopSettings
from shopfleet.kit.db import Database, upsert, utcnow
from shopfleet.kit.errors import NotFound, Problem

log = structlog.get_logger("shopfleet.catalog.shops")


class ShopDirectory:
    """Shop settings by slug: memory, then the `shops` table, then identity."""

    def __init__(
        self, db: Database, invoker: Invoker, *, identity_app_id: str, timeout_s: float
    ) -> None:
        self.db, self.invoker = db, invoker
        self.identity_app_id, self.timeout_s = identity_app_id, timeout_s
        self._known: dict[str, ShopSettings] = {}

    async def get(self, shop: str) -> ShopSettings:
        """The shop's settings; 404 if identity knows no such shop, 503 if it cannot say."""
        known = self._known.get(shop)
        if known is not None:
            return known
        async with self.db.reader() as session:
            row = await session.get(ShopRow, shop)
        if row is not None:
            known = ShopSettings(
                shop=row.slug, display_name=row.display_name, currency=row.currency
            )
        else:
            known = await self._ask_identity(shop)
            async with self.db.session() as session, session.begin():
                await self.remember(session, known)
        self._known[shop] = known
        return known

    async def currency(self, shop: str) -> str:
        return (await self.get(shop)).currency

    async def remember(self, session: AsyncSession, shop: ShopSettings) -> None:
        """Record a shop in the caller's transaction (from `shop.created` or identity)."""
        values = {
            "slug": shop.shop, "display_name": shop.display_name[:120],
            "currency": shop.currency, "updated_at": utcnow(),
        }  # fmt: skip
        table = ShopRow.__table__  # type: ignore[attr-defined]
        await session.execute(
            upsert(session, table, values, keys=["slug"], update=["display_name", "currency"])
        )
        self._known[shop.shop] = shop

    async def _ask_identity(self, shop: str) -> ShopSettings:
        try:
            answer = await self.invoker.invoke(
                self.identity_app_id, "GET", SETTINGS_PATH.format(shop=shop),
                timeout_s=self.timeout_s,
            )  # fmt: skip
        except ServiceUnavailable as exc:
            log.warning("shop settings unavailable", shop=shop, reason=exc.reason)
            raise _unavailable() from None
        if answer.status == 404:
            raise NotFound(f"Shop '{shop}' does not exist.", slug="shop-not-found")
        if answer.status != 200:
            log.warning("shop settings refused", shop=shop, status=answer.status)
            raise _unavailable()
        return ShopSettings.model_validate_json(answer.body)


def _unavailable() -> Problem:
    return Problem(
        503, "Cannot read this shop's settings right now (identity is unavailable); retry shortly.",
        headers={"Retry-After": "5"},
    )  # fmt: skip
