"""The topics the catalog consumes, as thin handlers over `shops` and `categories`.

Each runs in the router's inbox transaction: a redelivered event changes nothing, and
the handler's writes (and the events they cause) commit with its inbox row. What our
columns cannot hold is as unprocessable as a malformed payload: dropped.
"""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.catalog.service import categories
from shopfleet.catalog.shops import ShopDirectory
from shopfleet.kit.blocks import Subscription
from shopfleet.kit.contracts.events import (
    CATEGORY_DELETED,
    CATEGORY_UPDATED,
    SHOP_CREATED,
    CategoryDeleted,
    CategoryUpdated,
    ShopCreated,
)
from shopfleet.kit.contracts.ids import REFERENCE_PATTERN, SHOP_SLUG_PATTERN
from shopfleet.kit.contracts.tenants import ShopSettings
from shopfleet.kit.db import Database
from shopfleet.kit.inbox import PermanentEventError
from shopfleet.kit.money import MINOR_UNITS
from shopfleet.kit.subscriptions import DatabaseInbox, EventRouter, Received

CONSUMER = "catalog"
CATEGORY_ID = re.compile(REFERENCE_PATTERN)  # catalog keeps categories' ids as references
SHOP_SLUG = re.compile(SHOP_SLUG_PATTERN)


def category_event_shop(event: Received[CategoryUpdated | CategoryDeleted]) -> str:
    """The event's shop, once its ids fit our columns."""
    ids = [("category_id", event.payload.category_id)]
    if isinstance(event.payload, CategoryUpdated) and event.payload.parent_id is not None:
        ids.append(("parent_id", event.payload.parent_id))
    for name, value in ids:
        if not CATEGORY_ID.match(value):
            raise PermanentEventError(f"{event.topic}: {name} {value!r} is not a category id")
    if not event.shop:
        raise PermanentEventError(f"{event.topic} event {event.id} names no shop")
    return event.shop


def shop_settings(event: Received[ShopCreated]) -> ShopSettings:
    shop = event.payload
    if not (SHOP_SLUG.match(shop.shop) and shop.currency in MINOR_UNITS):
        raise PermanentEventError(f"{event.topic}: not a shop slug and currency: {shop}")
    return ShopSettings(shop=shop.shop, display_name=shop.display_name, currency=shop.currency)


def subscriptions(db: Database, shops: ShopDirectory) -> list[Subscription]:
    """What `create_app` subscribes, before the platform starts pub/sub."""
    router = EventRouter(CONSUMER, DatabaseInbox(db))

    @router.on(SHOP_CREATED)
    async def shop_created(session: AsyncSession, event: Received[ShopCreated]) -> None:
        await shops.remember(session, shop_settings(event))

    @router.on(CATEGORY_UPDATED)
    async def category_updated(session: AsyncSession, event: Received[CategoryUpdated]) -> None:
        await categories.apply_updated(session, category_event_shop(event), event.payload)

    @router.on(CATEGORY_DELETED)
    async def category_deleted(session: AsyncSession, event: Received[CategoryDeleted]) -> None:
        await categories.apply_deleted(session, category_event_shop(event), event.payload)

    return router.subscriptions()
