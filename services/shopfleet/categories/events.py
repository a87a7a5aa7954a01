"""The topics categories consumes: catalog's product events feed the products projection.

Each handler runs in the router's inbox transaction: the inbox row and the projection's
change commit together, so a redelivered event (same id) changes nothing; the version
check in the store handles a different event that is older than what we hold. An event
the projection cannot apply (`BadProductEvent`) is dropped.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.categories import service
from shopfleet.categories.domain.products import BadProductEvent
from shopfleet.kit.blocks.ports import Subscription
from shopfleet.kit.contracts.events import (
    PRODUCT_DELETED,
    PRODUCT_UPDATED,
    ProductDeleted,
    ProductUpdated,
)
from shopfleet.kit.db import Database
from shopfleet.kit.subscriptions import DatabaseInbox, EventRouter, Received

CONSUMER = "categories"


def subscriptions(db: Database) -> list[Subscription]:
    """What `create_app` subscribes, before the platform starts pub/sub."""
    router = EventRouter(CONSUMER, DatabaseInbox(db), unprocessable=(BadProductEvent,))

    @router.on(PRODUCT_UPDATED)
    async def product_updated(session: AsyncSession, event: Received[ProductUpdated]) -> None:
        await service.apply_product_updated(session, event.shop, event.payload)

    @router.on(PRODUCT_DELETED)
    async def product_deleted(session: AsyncSession, event: Received[ProductDeleted]) -> None:
        await service.apply_product_deleted(session, event.shop, event.payload)

    return router.subscriptions()
