"""The topics the catalog consumes, as thin handlers over `shops` and `categories`.

Each runs through the kit's inbox (`idempotent_handler`): a redelivered event changes
nothing, and the handler's writes (and the events they cause) commit with its inbox row.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from shopfleet.catalog import categories
from shopfleet.catalog.schemas import CATEGORY_ID_PATTERN
from shopfleet.catalog.shops import ShopDirectory
from shopfleet.kit.auth import SHOP_SLUG_PATTERN
from shopfleet.kit.blocks import CloudEvent, Subscription
from shopfleet.kit.contracts.events import (
    CATEGORY_DELETED,
    CATEGORY_UPDATED,
    SHOP_CREATED,
    CategoryDeleted,
    CategoryUpdated,
    ShopCreated,
)
from shopfleet.kit.contracts.tenants import ShopSettings
from shopfleet.kit.db import Database
from shopfleet.kit.money import MINOR_UNITS
from shopfleet.kit.outbox import PermanentEventError, idempotent_handler

CONSUMER = "catalog"
CATEGORY_ID = re.compile(CATEGORY_ID_PATTERN)
SHOP_SLUG = re.compile(SHOP_SLUG_PATTERN)
T = TypeVar("T", bound=BaseModel)
Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


def payload(event: CloudEvent, model: type[T]) -> T:
    try:
        data = model.model_validate(event.data)
    except ValidationError as exc:  # never processable: dead-letter it
        raise PermanentEventError(f"bad {event.topic} payload: {exc}") from None
    # What our columns cannot hold is as unprocessable as a malformed payload.
    for name in ("category_id", "parent_id"):
        value = getattr(data, name, None)
        if value is not None and not CATEGORY_ID.match(value):
            raise PermanentEventError(f"{event.topic}: {name} {value!r} is not a category id")
    if isinstance(data, ShopCreated) and not (
        SHOP_SLUG.match(data.shop) and data.currency in MINOR_UNITS
    ):
        raise PermanentEventError(f"{event.topic}: not a shop slug and currency: {data}")
    return data


def shop_of(event: CloudEvent) -> str:
    if not event.shop:
        raise PermanentEventError(f"{event.topic} event {event.id} names no shop")
    return event.shop


def handlers(shops: ShopDirectory) -> dict[str, Handler]:
    async def on_shop_created(session: AsyncSession, event: CloudEvent) -> None:
        shop = payload(event, ShopCreated)
        await shops.remember(
            session,
            ShopSettings(shop=shop.shop, display_name=shop.display_name, currency=shop.currency),
        )

    async def on_category_updated(session: AsyncSession, event: CloudEvent) -> None:
        await categories.apply_updated(session, shop_of(event), payload(event, CategoryUpdated))

    async def on_category_deleted(session: AsyncSession, event: CloudEvent) -> None:
        await categories.apply_deleted(session, shop_of(event), payload(event, CategoryDeleted))

    return {
        SHOP_CREATED: on_shop_created,
        CATEGORY_UPDATED: on_category_updated,
        CATEGORY_DELETED: on_category_deleted,
    }


def subscriptions(db: Database, shops: ShopDirectory) -> list[Subscription]:
    return [
        Subscription(topic, consumer=CONSUMER, handler=idempotent_handler(db, CONSUMER, fn))
        for topic, fn in handlers(shops).items()
    ]
