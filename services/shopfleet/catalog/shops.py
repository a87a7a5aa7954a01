"""The shops the catalog knows: a projection of identity's `shop.created`, and a fallback.

A product is priced in its shop's currency. The projection is filled by `shop.created`;
a shop the catalog has not heard of yet (it was created before the catalog subscribed,
or the event is still on its way) is asked of identity by service invocation, once.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.catalog.store.products import remember_shop, shop_settings
from shopfleet.kit.blocks import Invoker
from shopfleet.kit.contracts.clients.identity import IdentityClient
from shopfleet.kit.contracts.tenants import ShopSettings
from shopfleet.kit.db import Database
from shopfleet.kit.quotas import QuotaReader


class ShopDirectory:
    """Shop settings by slug: memory, then the `shops` table, then identity."""

    def __init__(
        self,
        db: Database,
        invoker: Invoker,
        *,
        identity_app_id: str,
        timeout_s: float,
        quotas: QuotaReader | None = None,
    ) -> None:
        self.db = db
        self.identity = IdentityClient(invoker, app_id=identity_app_id, timeout_s=timeout_s)
        self.quotas = quotas  # told the quotas that come with settings read from identity
        self._known: dict[str, ShopSettings] = {}

    async def get(self, shop: str) -> ShopSettings:
        """The shop's settings; 404 if identity knows no such shop, 503 if it cannot say."""
        known = self._known.get(shop)
        if known is not None:
            return known
        async with self.db.reader() as session:
            stored = await shop_settings(session, shop)
        if stored is not None:
            known = stored
        else:
            known = await self.identity.settings(shop)
            if self.quotas is not None:
                self.quotas.remember(shop, known.quotas)
            async with self.db.session() as session, session.begin():
                await self.remember(session, known)
        self._known[shop] = known
        return known

    def forget(self, shop: str) -> None:
        """The shop's data is being deleted: a shop of that name later is a new one."""
        self._known.pop(shop, None)

    async def currency(self, shop: str) -> str:
        return (await self.get(shop)).currency

    async def remember(self, session: AsyncSession, shop: ShopSettings) -> None:
        """Record a shop in the caller's transaction (from `shop.created` or identity)."""
        await remember_shop(session, shop)
        self._known[shop.shop] = shop
