"""Every topic and its payload. A topic has one owner: only that service publishes it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# ----------------------------------------------------------------------------- identity

USER_REGISTERED = "user.registered"  # owner: identity
SHOP_CREATED = "shop.created"  # owner: identity (tenant bootstrap)


class UserRegistered(EventPayload):
    user_id: str
    email: str
    display_name: str
    roles: list[str]
    registered_at: datetime


class ShopCreated(EventPayload):
    shop: str
    display_name: str
    currency: str
    created_at: datetime


# ----------------------------------------------------------------------------- categories
# Projections must tolerate redelivery and reordering: apply an event only if its
# `version` is newer than what they hold for that id.

CATEGORY_UPDATED = "category.updated"  # owner: categories (created or changed)
CATEGORY_DELETED = "category.deleted"  # owner: categories


class CategoryUpdated(EventPayload):
    category_id: str
    parent_id: str | None
    slug: str
    name: str
    position: int
    version: int


class CategoryDeleted(EventPayload):
    category_id: str
    version: int


# ----------------------------------------------------------------------------- catalog

PRODUCT_UPDATED = "product.updated"  # owner: catalog (created, changed, restocked)
PRODUCT_DELETED = "product.deleted"  # owner: catalog (soft delete)
STOCK_LOW = "stock.low"  # owner: catalog


class ProductUpdated(EventPayload):
    product_id: str
    name: str
    slug: str
    sku: str
    price_amount: int
    currency: str
    active: bool
    category_ids: list[str]
    available: int  # on hand minus reserved
    created_at: datetime
    version: int


class ProductDeleted(EventPayload):
    product_id: str
    version: int


class StockLow(EventPayload):
    product_id: str
    available: int
    threshold: int


TOPICS: dict[str, type[EventPayload]] = {
    USER_REGISTERED: UserRegistered,
    SHOP_CREATED: ShopCreated,
    CATEGORY_UPDATED: CategoryUpdated,
    CATEGORY_DELETED: CategoryDeleted,
    PRODUCT_UPDATED: ProductUpdated,
    PRODUCT_DELETED: ProductDeleted,
    STOCK_LOW: StockLow,
}
