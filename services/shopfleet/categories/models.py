"""Categories' tables and the schema families of its API.

Tables: `categories` (each shop's tree), `category_trees` (one row per shop: the tree's
revision, which is the ETag of the tree and the lock that serializes a shop's tree writes),
and the products projection fed by catalog's events: `category_products` (what a listing
shows, plus a tombstone once catalog deleted the product) and `category_product_links`
(which categories each product is in).

Input models forbid unknown fields, so a typo is a 422 naming the field.
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Any

import pydantic
import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shopfleet.categories.domain.rules import MAX_SLUG, SLUG_PATTERN, CategoryEdit
from shopfleet.kit.contracts import ids
from shopfleet.kit.db import UTCDateTime, utcnow
from shopfleet.kit.text import Printable

MAX_NAME = 100
MAX_DESCRIPTION = 2000
MAX_POSITION = 1_000_000


def new_id() -> str:
    return str(uuid.uuid4())


def _timestamp(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


def _multiline(value: str) -> str:
    # A description may span lines; no other control character (PostgreSQL cannot store NUL).
    if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in value):
        raise ValueError("must not contain control characters other than line breaks and tabs")
    return value


Name = Annotated[str, pydantic.Field(min_length=1, max_length=MAX_NAME), Printable]
Slug = Annotated[
    str,
    pydantic.Field(
        min_length=1,
        max_length=MAX_SLUG,
        pattern=SLUG_PATTERN,
        description="Lower-case letters, digits and single hyphens; unique in the shop.",
        examples=["running-shoes"],
    ),
]
CategoryId = Annotated[ids.CategoryId, pydantic.Field(max_length=36)]
Position = Annotated[
    int,
    pydantic.Field(
        ge=0, le=MAX_POSITION, description="Order among siblings (then by name); 0 comes first."
    ),
]
Description = Annotated[str, pydantic.Field(max_length=MAX_DESCRIPTION), AfterValidator(_multiline)]

# ----------------------------------------------------------------------------- tables


class CategoriesModel(SQLModel, registry=registry()):
    """Categories' own metadata: services share one process in the embedded platform."""


class CategoryTreeState(CategoriesModel, table=True):
    """One row per shop that has ever had a category."""

    __tablename__ = "category_trees"

    shop: str = Field(primary_key=True, max_length=40)
    revision: int = Field(default=0, sa_type=sa.BigInteger)


class Category(CategoriesModel, table=True):
    __tablename__ = "categories"
    __table_args__ = (
        sa.UniqueConstraint("shop", "slug", name="uq_categories_shop_slug"),
        # The target of the (shop, parent_id) foreign key: a parent is always in the same shop.
        sa.UniqueConstraint("shop", "id", name="uq_categories_shop_id"),
        sa.ForeignKeyConstraint(
            ["shop", "parent_id"],
            ["categories.shop", "categories.id"],
            name="fk_categories_parent",
        ),
        sa.Index("ix_categories_shop_parent", "shop", "parent_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    shop: str = Field(max_length=40)
    parent_id: str | None = Field(default=None, max_length=36)
    slug: str = Field(max_length=MAX_SLUG)
    name: str = Field(max_length=MAX_NAME)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    position: int = Field(default=0)
    version: int = Field(default=1, sa_type=sa.BigInteger)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class CategoryProduct(CategoriesModel, table=True):
    """Catalog's products as far as category listings need them (from catalog's events)."""

    __tablename__ = "category_products"
    __table_args__ = (
        sa.Index("ix_category_products_name", "shop", "name", "product_id"),
        sa.Index("ix_category_products_price", "shop", "price_amount", "product_id"),
        sa.Index("ix_category_products_created", "shop", "created_at", "product_id"),
    )

    shop: str = Field(primary_key=True, max_length=40)
    product_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=255)
    slug: str = Field(max_length=255)
    price_amount: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    active: bool
    available: int = Field(sa_type=sa.BigInteger)
    created_at: datetime = Field(sa_type=UTCDateTime)
    # The newest catalog version applied: older or repeated events change nothing.
    version: int = Field(sa_type=sa.BigInteger)
    # A tombstone: catalog deleted the product (at `version`); an older update cannot revive it.
    deleted: bool = Field(default=False)
    projected_at: datetime = _timestamp()


class CategoryProductLink(CategoriesModel, table=True):
    """Product `product_id` is in category `category_id` (both of `shop`)."""

    __tablename__ = "category_product_links"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["shop", "product_id"],
            ["category_products.shop", "category_products.product_id"],
            name="fk_category_product_links_product",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop", "category_id"],
            ["categories.shop", "categories.id"],
            name="fk_category_product_links_category",
            ondelete="CASCADE",
        ),
        sa.Index("ix_category_product_links_category", "shop", "category_id", "product_id"),
    )

    shop: str = Field(primary_key=True, max_length=40)
    product_id: str = Field(primary_key=True, max_length=36)
    category_id: str = Field(primary_key=True, max_length=36)


# ----------------------------------------------------------------------------- input


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    slug: Slug | None = pydantic.Field(default=None, description="Made from the name when omitted.")
    parent_id: CategoryId | None = pydantic.Field(
        default=None, description="The parent category; omitted or null: a root category."
    )
    position: Position | None = pydantic.Field(
        default=None, description="Omitted: after the last sibling."
    )
    description: Description | None = None


class CategoryUpdate(BaseModel):
    """Only the fields sent change; `parent_id: null` makes the category a root."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    slug: Slug | None = None
    parent_id: CategoryId | None = None
    position: Position | None = None
    description: Description | None = None

    @field_validator("name", "slug", "position")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:  # only a field that was sent is validated: omitting it is fine
            raise ValueError("may not be null; omit the field to keep its value")
        return value

    def edit(self) -> CategoryEdit:
        """The fields sent (name, slug and position are never null once sent)."""
        sent, edit = self.model_fields_set, CategoryEdit()
        if "name" in sent and self.name is not None:
            edit["name"] = self.name
        if "slug" in sent and self.slug is not None:
            edit["slug"] = self.slug
        if "parent_id" in sent:
            edit["parent_id"] = self.parent_id
        if "position" in sent and self.position is not None:
            edit["position"] = self.position
        if "description" in sent:
            edit["description"] = self.description
        return edit


# ----------------------------------------------------------------------------- output


class CategoryPublic(BaseModel):
    id: str
    parent_id: str | None
    slug: str
    name: str
    description: str | None
    position: int
    version: int
    created_at: datetime
    updated_at: datetime


class CategoryNode(CategoryPublic):
    children: list[CategoryNode]


class CategoryTree(BaseModel):
    items: list[CategoryNode] = pydantic.Field(
        description="The root categories, each with its children, ordered by position then name."
    )
    count: int = pydantic.Field(description="Categories in the whole tree.")


class CategoryRef(BaseModel):
    id: str
    slug: str
    name: str


class CategoryDetail(CategoryPublic):
    path: list[CategoryRef] = pydantic.Field(
        description="Breadcrumbs from the root down to this category (itself last)."
    )
    children: list[CategoryPublic] = pydantic.Field(description="Direct children, in order.")


class CategoryDeletion(BaseModel):
    deleted: list[str] = pydantic.Field(description="Ids of the deleted categories.")
    reparented: list[str] = pydantic.Field(
        description="Ids of the children moved to the deleted category's parent."
    )
    products_unlinked: int = pydantic.Field(
        description="Product links removed (catalog drops them too, from `category.deleted`)."
    )


class ProductItem(BaseModel):
    id: str
    name: str
    slug: str
    price_amount: int = pydantic.Field(description="Price in minor units of `currency`.")
    currency: str
    available: int = pydantic.Field(description="Units on hand minus units reserved.")


class ProductsPage(BaseModel):
    items: list[ProductItem]
    next_cursor: str | None = pydantic.Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )
