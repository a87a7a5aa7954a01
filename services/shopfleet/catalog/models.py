"""Catalog's tables. The API's schema families (Create / Update / Public) are in `schemas`.

A product row carries what its listing shows (price, currency, availability, the first
image's thumbnail, category ids), so the list path reads one table. `search_text` and
`name_key` are case-folded in Python: search and name order behave the same on SQLite and
PostgreSQL (whose `lower()` and collations differ from SQLite's).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shopfleet.kit.db import UTCDateTime, utcnow

# Byte order on both backends: SQLite compares text as bytes; PostgreSQL needs "C" for that.
NAME_KEY = sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql")
_LIVE = "deleted_at IS NULL"


def _timestamp(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


def new_id() -> str:
    return str(uuid.uuid4())


def search_text(name: str, description: str, sku: str) -> str:
    """What `q` matches: the three fields, case-folded, one per line (`q` has no newline)."""
    return "\n".join((name.casefold(), description.casefold(), sku.casefold()))


def name_key(name: str) -> str:
    return name.casefold()[:200]


class CatalogModel(SQLModel, registry=registry()):
    """Catalog's own metadata: services share one process in the embedded platform."""


class ShopRow(CatalogModel, table=True):
    """Projection of identity's shops: what the catalog needs to price in a shop's currency."""

    __tablename__ = "shops"

    slug: str = Field(primary_key=True, max_length=40)
    display_name: str = Field(max_length=120)
    currency: str = Field(max_length=3)
    updated_at: datetime = _timestamp()


class CategoryRow(CatalogModel, table=True):
    """Projection of the categories service's tree; a deleted one stays as a tombstone."""

    __tablename__ = "categories"
    __table_args__ = (sa.Index("ix_categories_shop_parent", "shop", "parent_id"),)

    shop: str = Field(primary_key=True, max_length=40)
    id: str = Field(primary_key=True, max_length=64)
    parent_id: str | None = Field(default=None, max_length=64)
    slug: str = Field(max_length=120)
    version: int
    deleted: bool = False
    updated_at: datetime = _timestamp()


class Product(CatalogModel, table=True):
    __tablename__ = "products"
    __table_args__ = (
        # Unique among live products: a deleted product's slug and SKU can be used again.
        sa.Index(
            "uq_products_shop_slug",
            "shop",
            "slug",
            unique=True,
            sqlite_where=sa.text(_LIVE),
            postgresql_where=sa.text(_LIVE),
        ),
        sa.Index(
            "uq_products_shop_sku",
            "shop",
            "sku",
            unique=True,
            sqlite_where=sa.text(_LIVE),
            postgresql_where=sa.text(_LIVE),
        ),
        # One index per listing order: the keyset is (shop, sort key, id).
        sa.Index("ix_products_shop_created", "shop", "created_at", "id"),
        sa.Index("ix_products_shop_price", "shop", "price_amount", "id"),
        sa.Index("ix_products_shop_name", "shop", "name_key", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    shop: str = Field(max_length=40)
    name: str = Field(max_length=200)
    name_key: str = Field(sa_type=NAME_KEY)
    slug: str = Field(max_length=120)
    description: str = Field(default="", sa_type=sa.Text)
    sku: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    price_amount: int = Field(sa_type=sa.BigInteger)
    compare_at_amount: int | None = Field(default=None, sa_type=sa.BigInteger)
    attributes: dict[str, str] = Field(default_factory=dict, sa_type=sa.JSON)
    active: bool = True
    category_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    thumbnail_image_id: str | None = Field(default=None, max_length=36)
    on_hand: int = 0
    reserved: int = 0
    low_stock_threshold: int = 5
    weight_grams: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    search_text: str = Field(sa_type=sa.Text)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = 1


class ProductCategory(CatalogModel, table=True):
    """Which categories a product is in (a copy of `products.category_ids`, to filter by)."""

    __tablename__ = "product_categories"
    __table_args__ = (
        sa.Index("ix_product_categories_shop_category", "shop", "category_id", "product_id"),
    )

    product_id: str = Field(primary_key=True, max_length=36, foreign_key="products.id")
    category_id: str = Field(primary_key=True, max_length=64)
    shop: str = Field(max_length=40)


class PriceChange(CatalogModel, table=True):
    """A product's price history: one row per price it has had, the first at creation."""

    __tablename__ = "product_prices"
    __table_args__ = (sa.Index("ix_product_prices_product", "product_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    shop: str = Field(max_length=40)
    product_id: str = Field(max_length=36, foreign_key="products.id")
    amount: int = Field(sa_type=sa.BigInteger)
    compare_at_amount: int | None = Field(default=None, sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    changed_at: datetime = _timestamp()
    changed_by: str | None = Field(default=None, max_length=64)


class ProductImage(CatalogModel, table=True):
    __tablename__ = "product_images"
    __table_args__ = (sa.Index("ix_product_images_product", "product_id", "position"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    shop: str = Field(max_length=40)
    product_id: str = Field(max_length=36, foreign_key="products.id")
    position: int
    content_type: str = Field(max_length=32)
    width: int
    height: int
    size_bytes: int
    full_key: str = Field(max_length=255)
    full_etag: str = Field(max_length=64)
    thumb_key: str = Field(max_length=255)
    thumb_content_type: str = Field(max_length=32)
    thumb_etag: str = Field(max_length=64)
    created_at: datetime = _timestamp()


class Reservation(CatalogModel, table=True):
    """The outcome of reserving stock for one order id: asked again, it is answered again."""

    __tablename__ = "reservations"

    shop: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(primary_key=True, max_length=64)
    status: str = Field(max_length=16)  # reserved | committed | released | rejected
    lines: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    shortages: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


TABLES = [ShopRow, CategoryRow, Product, ProductCategory, PriceChange, ProductImage, Reservation]

# The same tables as Core sees them: the store's statements and the fast read path select
# columns, not objects.
_tables = CatalogModel.metadata.tables
SHOPS_TABLE: sa.Table = _tables["shops"]
CATEGORIES_TABLE: sa.Table = _tables["categories"]
PRODUCTS_TABLE: sa.Table = _tables["products"]
LINKS_TABLE: sa.Table = _tables["product_categories"]
PRICES_TABLE: sa.Table = _tables["product_prices"]
IMAGES_TABLE: sa.Table = _tables["product_images"]
