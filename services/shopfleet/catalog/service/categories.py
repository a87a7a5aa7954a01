"""The category projection's use cases: `category.updated` and `category.deleted` applied
in the subscription's inbox transaction (the router commits)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.catalog import emit
from shopfleet.catalog.store import categories as store
from shopfleet.kit.contracts.events import CategoryDeleted, CategoryUpdated
from shopfleet.kit.db import utcnow


async def apply_updated(session: AsyncSession, shop: str, event: CategoryUpdated) -> None:
    """Only a newer version than the one held changes the projection."""
    await store.save_updated(session, shop, event)


async def apply_deleted(session: AsyncSession, shop: str, event: CategoryDeleted) -> list[str]:
    """Tombstone the category and take it off its products; returns the products changed."""
    if not await store.save_deleted(session, shop, event):
        return []  # an older event than what we hold: nothing changes
    products = await store.unlink_category(session, shop, event.category_id)
    now = utcnow()
    for product in products:
        product.category_ids = [c for c in product.category_ids if c != event.category_id]
        product.version += 1
        product.updated_at = now
        await emit.product_updated(session, product)
    return [product.id for product in products]
